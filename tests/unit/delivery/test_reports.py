"""Reading bounces (RFC 3464 DSNs) and complaints (RFC 5965 ARF) into `Report` values, and splitting mboxes.

The samples come from `tests.support.report_samples`, built with the stdlib `email` package the way
Postfix, Exim, Gmail and feedback loops write them.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepwise.delivery.reports import (
    MAX_BYTES,
    MAX_REASON,
    MAX_RECIPIENT_BLOCKS,
    Report,
    ReportError,
    parse_raw,
    split_messages,
)
from tests.support import report_samples as samples

ORIGINAL_ID = "<abc@stepwise.test>"


def _failed(recipient: str, **fields: str) -> list[tuple[str, str]]:
    block = {"Final-Recipient": f"rfc822; {recipient}", "Action": "failed", "Status": "5.1.1", **fields}
    return list(block.items())


def _only(data: bytes) -> Report:
    reports = parse_raw(data)
    assert len(reports) == 1, reports
    return reports[0]


# Delivery status notifications


def test_a_postfix_hard_bounce_gives_a_hard_report_with_status_diagnostic_and_original_message_id() -> None:
    report = _only(samples.dsn("anna@example.com"))

    assert report == Report(
        email="anna@example.com",
        type="hard",
        message_id=ORIGINAL_ID,
        reason="5.1.1 smtp; 550 5.1.1 <x>: Recipient address rejected: User unknown",
        report_id=None,
    )


def test_a_bounce_enclosing_only_the_original_headers_still_names_the_original_message_id() -> None:
    report = _only(samples.dsn("anna@example.com", with_headers_only=True))

    assert (report.email, report.type, report.message_id) == ("anna@example.com", "hard", ORIGINAL_ID)


def test_a_full_mailbox_4_2_2_with_action_failed_is_a_soft_bounce() -> None:
    data = samples.dsn("full@example.com", status="4.2.2", diagnostic="smtp; 452 4.2.2 Mailbox full")

    report = _only(data)

    assert (report.type, report.reason) == ("soft", "4.2.2 smtp; 452 4.2.2 Mailbox full")


def test_a_multi_recipient_report_gives_only_the_failed_recipient_not_the_delayed_one() -> None:
    reports = parse_raw(samples.multi_recipient_dsn(failed="gone@example.com", delayed="slow@example.org"))

    assert [(r.email, r.type) for r in reports] == [("gone@example.com", "hard")]


@pytest.mark.parametrize("action", ["delayed", "delivered", "relayed", "expanded"])
def test_an_action_other_than_failed_gives_no_report(action: str) -> None:
    assert parse_raw(samples.dsn("anna@example.com", status="4.4.1", action=action)) == []


def test_a_status_with_a_comment_is_read_exim_style() -> None:
    per_message = [("Reporting-MTA", "dns; mx.exim.example")]
    blocks = [[("Action", "failed"), ("Final-Recipient", "rfc822;anna@example.com"), ("Status", "5.0.0 (permanent)")]]

    report = _only(samples.dsn_from_blocks(blocks, per_message=per_message, with_headers_only=True))

    assert (report.type, report.reason) == ("hard", "5.0.0")


def test_a_final_recipient_without_type_prefix_and_in_angle_brackets_is_read() -> None:
    blocks = [[("Final-Recipient", "  <anna@example.com>  "), ("Action", "failed"), ("Status", "5.1.1")]]

    assert _only(samples.dsn_from_blocks(blocks)).email == "anna@example.com"


def test_lower_case_field_names_are_read() -> None:
    blocks = [[("final-recipient", "RFC822; anna@example.com"), ("action", "FAILED"), ("status", "4.2.2")]]

    report = _only(samples.dsn_from_blocks(blocks))

    assert (report.email, report.type) == ("anna@example.com", "soft")


@pytest.mark.parametrize("status", [None, "", "permanent", "9.9.9", "5.1"])
def test_a_failed_action_with_a_missing_or_garbled_status_is_a_hard_bounce(status: str | None) -> None:
    block = [("Final-Recipient", "rfc822; anna@example.com"), ("Action", "failed")]
    if status is not None:
        block.append(("Status", status))

    assert _only(samples.dsn_from_blocks([block])).type == "hard"


def test_without_final_recipient_the_original_recipient_is_used() -> None:
    block = [("Original-Recipient", "rfc822;anna@example.com"), ("Action", "failed"), ("Status", "5.1.1")]

    assert _only(samples.dsn_from_blocks([block])).email == "anna@example.com"


def test_a_gmail_style_folded_diagnostic_is_unfolded_into_one_line_of_reason() -> None:
    diagnostic = (
        "smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please try "
        "550-5.1.1 double-checking the recipient's email address for typos or 550 5.1.1 unnecessary spaces."
    )
    data = samples.dsn("anna@gmail.example", diagnostic=diagnostic, reporting_mta="mail-sor-f41.google.com")
    assert diagnostic.encode() not in data  # the sample folds it over several lines

    assert _only(data).reason == "5.1.1 " + diagnostic


def test_the_reason_is_at_most_500_characters_without_control_characters() -> None:
    data = samples.dsn_from_blocks([_failed("anna@example.com", **{"Diagnostic-Code": "smtp; 550 x\x00y" + "z" * 900})])

    reason = _only(data).reason

    assert reason is not None and len(reason) == MAX_REASON
    assert not {"\r", "\n", "\x00"} & set(reason)


def test_the_report_id_is_the_reports_own_message_id_and_the_recipient() -> None:
    data = samples.multi_recipient_dsn(dsn_message_id="<20261204050000.4QpL0x2Zq1z9tJ@mx.example.net>")

    assert _only(data).report_id == "<20261204050000.4QpL0x2Zq1z9tJ@mx.example.net> gone@example.com"


def test_an_original_message_id_without_angle_brackets_gets_them() -> None:
    assert _only(samples.dsn("anna@example.com", original_message_id="abc@stepwise.test")).message_id == ORIGINAL_ID


def test_an_original_without_message_id_gives_none() -> None:
    assert _only(samples.dsn("anna@example.com", original_message_id=None)).message_id is None


@pytest.mark.parametrize(
    "address", ["two@at@example.com", "no-at.example.com", "a\x00b@example.com", "a b@example.com", "@example.com"]
)
def test_a_recipient_that_is_no_address_is_skipped(address: str) -> None:
    data = samples.dsn_from_blocks([_failed(address), _failed("anna@example.com")])

    assert [r.email for r in parse_raw(data)] == ["anna@example.com"]


def test_a_report_whose_recipients_are_all_unusable_is_refused() -> None:
    with pytest.raises(ReportError, match="names no recipient"):
        parse_raw(samples.dsn_from_blocks([_failed("two@at@example.com")]))


def test_a_non_ascii_address_is_kept_as_given() -> None:
    data = samples.dsn("anna@example.com").replace(b"rfc822; anna@example.com", "rfc822; jörg@exämple.de".encode())

    assert _only(data).email == "jörg@exämple.de"


def test_a_recipient_reported_twice_gives_one_report() -> None:
    data = samples.dsn_from_blocks([_failed("anna@example.com"), _failed("anna@example.com")])

    assert len(parse_raw(data)) == 1


def test_crlf_line_endings_read_like_lf() -> None:
    blocks = [_failed("anna@example.com")]

    assert parse_raw(samples.dsn_from_blocks(blocks, crlf=True)) == parse_raw(samples.dsn_from_blocks(blocks))


def test_a_global_delivery_status_part_is_read() -> None:
    data = samples.dsn("anna@example.com").replace(b"message/delivery-status", b"message/global-delivery-status")

    assert _only(data).email == "anna@example.com"


def test_without_report_type_the_kind_of_report_comes_from_its_parts() -> None:
    data = samples.dsn("anna@example.com").replace(b' report-type="delivery-status";', b"")

    assert _only(data).type == "hard"


def test_no_more_than_1000_recipient_blocks_are_looked_at() -> None:
    blocks = [_failed(f"r{n}@example.com") for n in range(MAX_RECIPIENT_BLOCKS + 50)]

    reports = parse_raw(samples.dsn_from_blocks(blocks))

    assert len(reports) == MAX_RECIPIENT_BLOCKS
    assert reports[-1].email == f"r{MAX_RECIPIENT_BLOCKS - 1}@example.com"


# ARF feedback reports


def test_an_arf_abuse_report_is_a_complaint_about_its_original_rcpt_to() -> None:
    data = samples.arf("bob@example.com", report_message_id="<fbl-1@mail.example.com>")

    assert _only(data) == Report(
        email="bob@example.com",
        type="complaint",
        message_id=ORIGINAL_ID,
        reason="abuse complaint from ExampleFBL/2.1",
        report_id="<fbl-1@mail.example.com> bob@example.com",
    )


@pytest.mark.parametrize("headers_only", [False, True])
def test_an_arf_report_without_original_rcpt_to_names_the_to_of_the_enclosed_original(headers_only: bool) -> None:
    data = samples.arf("Bob <bob@example.com>", with_rcpt_to=False, with_headers_only=headers_only)

    report = _only(data)

    assert (report.email, report.type, report.message_id) == ("bob@example.com", "complaint", ORIGINAL_ID)


def test_an_arf_report_naming_no_recipient_at_all_is_refused() -> None:
    data = samples.arf("undisclosed-recipients:;", with_rcpt_to=False)

    with pytest.raises(ReportError, match="names no recipient"):
        parse_raw(data)


@pytest.mark.parametrize("feedback_type", ["not-spam", "auth-failure"])
def test_feedback_that_is_no_complaint_gives_no_report(feedback_type: str) -> None:
    assert parse_raw(samples.arf("bob@example.com", feedback_type=feedback_type)) == []


def test_an_arf_report_without_its_feedback_part_is_refused() -> None:
    data = samples.arf("bob@example.com").replace(b"message/feedback-report", b"text/plain")

    with pytest.raises(ReportError, match="no message/feedback-report part"):
        parse_raw(data)


# What is not a report


def test_a_plain_message_is_refused_as_no_report() -> None:
    with pytest.raises(ReportError, match="not a report: its type is 'text/plain'"):
        parse_raw(samples.plain_message())


def test_an_unknown_report_type_is_refused_by_name() -> None:
    data = samples.dsn("anna@example.com").replace(b"delivery-status", b"disposition-notification")

    with pytest.raises(ReportError, match="'disposition-notification' is not supported"):
        parse_raw(data)


def test_a_delivery_report_without_a_delivery_status_part_is_refused() -> None:
    data = samples.dsn("anna@example.com").replace(
        b"Content-Type: message/delivery-status", b"Content-Type: text/plain"
    )

    with pytest.raises(ReportError, match="no message/delivery-status part"):
        parse_raw(data)


def test_input_over_10_mib_is_refused_before_reading() -> None:
    data = samples.dsn("anna@example.com")

    with pytest.raises(ReportError, match="larger than the limit"):
        parse_raw(data + b" " * (MAX_BYTES - len(data) + 1))


def test_a_message_of_thousands_of_tiny_parts_is_refused_quickly() -> None:
    head = b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
    data = head + b"--B\nContent-Type: message/delivery-status\n\n" + b"a: b\n\n" * 200_000 + b"--B--\n"
    started = time.perf_counter()

    with pytest.raises(ReportError, match="too many parts"):
        parse_raw(data)

    assert time.perf_counter() - started < 2


def test_a_report_error_message_is_one_sentence_for_an_api_user() -> None:
    with pytest.raises(ReportError) as refused:
        parse_raw(b"\x00\xff garbage")

    assert str(refused.value)[0].islower() and "\n" not in str(refused.value)


# Splitting mboxes


def test_an_mbox_of_three_messages_splits_into_them_with_from_lines_unescaped() -> None:
    messages = [samples.dsn("anna@example.com"), samples.plain_message(), samples.arf("bob@example.com")]
    assert any(line.startswith(b"From ") for line in messages[0].splitlines())  # "From the Acme team"
    data = samples.mbox(*messages)
    assert b"\n>From the Acme team" in data

    parts = split_messages(data)

    assert parts == messages
    assert [r.type for part in parts[::2] for r in parse_raw(part)] == ["hard", "complaint"]


def test_mboxrd_unescapes_one_level_of_quoted_from_lines() -> None:
    data = samples.MBOX_SEPARATOR + b"Subject: x\n\n>>From here\n>From there\n> From nowhere\n\n"

    assert split_messages(data) == [b"Subject: x\n\n>From here\nFrom there\n> From nowhere\n"]


def test_a_single_message_is_returned_whole() -> None:
    data = samples.plain_message()

    assert split_messages(data) == [data]


def test_empty_input_holds_no_messages() -> None:
    assert split_messages(b"") == []
    assert split_messages(samples.MBOX_SEPARATOR) == []


# Hostile and broken input: only ever a list or a ReportError

SAMPLES = [
    samples.dsn("anna@example.com", dsn_message_id="<b@mx.example.net>"),
    samples.dsn("anna@example.com", with_headers_only=True),
    samples.multi_recipient_dsn(),
    samples.arf("bob@example.com", report_message_id="<f@fbl.example.com>"),
    samples.arf("bob@example.com", with_rcpt_to=False, with_headers_only=True),
]


def _reads_or_refuses(data: bytes) -> None:
    try:
        result = parse_raw(data)
    except ReportError as error:
        assert str(error)
        return
    assert isinstance(result, list)
    assert all(isinstance(report, Report) for report in result)


@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_every_truncation_of_a_sample_is_read_or_refused(sample: int) -> None:
    data = SAMPLES[sample]
    for end in range(0, len(data), 7):
        _reads_or_refuses(data[:end])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_are_read_or_refused(data: bytes) -> None:
    _reads_or_refuses(data)
    split_messages(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3), st.binary(max_size=12)), min_size=1, max_size=8),
)
def test_mutated_samples_are_read_or_refused(sample: bytes, edits: list[tuple[float, int, bytes]]) -> None:
    data = sample
    for where, kind, chunk in edits:
        at = int(where * len(data))
        if kind == 0:  # insert
            data = data[:at] + chunk + data[at:]
        elif kind == 1:  # overwrite
            data = data[:at] + chunk + data[at + len(chunk) :]
        elif kind == 2:  # delete
            data = data[:at] + data[at + len(chunk) + 1 :]
        else:  # duplicate a stretch (repeated parts, blocks and headers)
            data = data[:at] + data[at : at + 200] * 3 + data[at:]
    _reads_or_refuses(data)
    _reads_or_refuses(samples.mbox(data, data)[len(samples.MBOX_SEPARATOR) :])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\n",
                b"Content-Type: message/delivery-status\n",
                b"Content-Type: message/rfc822\n",
                b"Content-Type: text/rfc822-headers; charset=utf-8\nContent-Transfer-Encoding: base64\n",
                b"Content-Type: multipart/report; report-type*=''feedback-report; boundary=B\n",
                b"Content-Type: message/feedback-report\n",
                b"Final-Recipient: rfc822; <a@b.example>\n",
                b"Action: failed\n",
                b"Status: 4.2.2\n",
                b"Original-Rcpt-To: a@b.example\n",
                b"Message-ID: <\xff@x>\n",
                b"To: =?utf-8?q?=E2=80?= <a@b>\n",
                b" folded\n",
                b"--B\n",
                b"--B--\n",
                b"\n",
                b"\r\n",
                b"\x00\n",
            ]
        ),
        max_size=40,
    )
)
def test_reports_assembled_from_report_pieces_are_read_or_refused(pieces: list[bytes]) -> None:
    _reads_or_refuses(b"".join(pieces))
