"""The only code that speaks SQL: tables, named queries per aggregate, dialect seams, migrations."""
