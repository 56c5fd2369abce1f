"""Provider webhooks read into bounce and complaint reports (delivery/provider_reports.py).

Every body is built as the provider sends it (tests.support.provider_samples) and signed with keys
made here. The rules checked: which events become hard bounces, soft bounces and complaints; which
fields become the address, Message-ID, reason and idempotence key; that a missing, forged or
other-key signature and a tampered body raise Unverified; and that any malformed input raises
ReportError and nothing else.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from stepwise.delivery.provider_reports import (
    MAX_BODY,
    MAX_EVENTS,
    PROVIDERS,
    SnsConfirmation,
    Unverified,
    check_sendgrid_key,
    mailgun_reports,
    postmark_reports,
    sendgrid_reports,
    ses_reports,
)
from stepwise.delivery.reports import Report, ReportError
from tests.support import provider_samples as samples
from tests.support.provider_samples import (
    OUR_MESSAGE_ID,
    SIGNATURE_HEADER,
    SNS_MESSAGE_ID,
    TIMESTAMP_HEADER,
    TOPIC_ARN,
    SendgridKey,
    dumps,
)

SENDGRID = SendgridKey.generate()
OTHER_SENDGRID = SendgridKey.generate()
MAILGUN_KEY = samples.mailgun_signing_key()


def _sendgrid(events: Any, key: SendgridKey = SENDGRID) -> list[Report]:
    body = dumps(events)
    return sendgrid_reports(body, key.headers(body), SENDGRID.public_base64)


def _ses_list(message: dict[str, Any]) -> list[Report]:
    result = ses_reports(dumps(samples.sns_notification(message)))
    assert isinstance(result, list)
    return result


def test_the_providers_are_named() -> None:
    assert PROVIDERS == ("sendgrid", "mailgun", "postmark", "ses")


# --- SendGrid -----------------------------------------------------------------------------------


def test_sendgrid_bounce_is_hard_blocked_is_soft_spamreport_is_complaint_and_the_rest_is_ignored() -> None:
    reports = _sendgrid(samples.sendgrid_events())
    assert [(r.email, r.type) for r in reports] == [
        ("bob@example.com", "hard"),
        ("carol@example.org", "soft"),
        ("frank@example.com", "complaint"),
    ]


def test_sendgrid_report_takes_message_id_from_smtp_id_reason_from_status_and_reason_and_id_from_sg_event_id() -> None:
    bounce = _sendgrid(samples.sendgrid_events())[0]
    assert bounce == Report(
        email="bob@example.com",
        type="hard",
        message_id="<0192f3a1.bob@mail.stepwise.example>",
        reason="5.1.1 550 5.1.1 The email account that you tried to reach does not exist.",
        report_id="sendgrid:Ym91bmNlLWJvYg",
    )
    complaint = _sendgrid(samples.sendgrid_events())[2]
    assert (complaint.message_id, complaint.reason) == (None, None)


def test_sendgrid_smtp_id_without_brackets_gets_them() -> None:
    event = {"event": "spamreport", "email": "a@example.com", "smtp-id": "abc.1@host.example"}
    assert _sendgrid([event])[0].message_id == "<abc.1@host.example>"


def test_sendgrid_dropped_deferred_and_engagement_events_are_not_reports() -> None:
    events = [e for e in samples.sendgrid_events() if e["event"] not in {"bounce", "spamreport"}]
    assert len(events) == 5
    assert _sendgrid(events) == []


def test_sendgrid_accepts_the_key_as_pem_as_well_as_base64_der() -> None:
    body = dumps(samples.sendgrid_events())
    assert len(sendgrid_reports(body, SENDGRID.headers(body), SENDGRID.public_pem)) == 3
    wrapped = "\n".join(SENDGRID.public_base64[i : i + 64] for i in range(0, len(SENDGRID.public_base64), 64))
    assert len(sendgrid_reports(body, SENDGRID.headers(body), f"  {wrapped}\n")) == 3


@pytest.mark.parametrize("header", [SIGNATURE_HEADER, TIMESTAMP_HEADER])
def test_sendgrid_missing_signature_or_timestamp_header_is_unverified(header: str) -> None:
    body = dumps(samples.sendgrid_events())
    headers = SENDGRID.headers(body)
    del headers[header]
    with pytest.raises(Unverified, match="missing"):
        sendgrid_reports(body, headers, SENDGRID.public_base64)


def test_sendgrid_signature_by_another_key_is_unverified() -> None:
    body = dumps(samples.sendgrid_events())
    with pytest.raises(Unverified, match="does not verify"):
        sendgrid_reports(body, OTHER_SENDGRID.headers(body), SENDGRID.public_base64)


def test_sendgrid_tampered_body_is_unverified() -> None:
    body = dumps(samples.sendgrid_events())
    headers = SENDGRID.headers(body)
    tampered = body.replace(b"frank@example.com", b"frank@example.org")
    with pytest.raises(Unverified):
        sendgrid_reports(tampered, headers, SENDGRID.public_base64)


def test_sendgrid_changed_timestamp_is_unverified() -> None:
    body = dumps(samples.sendgrid_events())
    headers = {**SENDGRID.headers(body), TIMESTAMP_HEADER: "1700000001"}
    with pytest.raises(Unverified):
        sendgrid_reports(body, headers, SENDGRID.public_base64)


@pytest.mark.parametrize(
    "signature",
    [
        "not base64!",
        base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode(),
        base64.b64encode(b"x" * 70).decode(),
        "é",
    ],
)
def test_sendgrid_forged_signature_is_unverified(signature: str) -> None:
    body = dumps(samples.sendgrid_events())
    headers = {**SENDGRID.headers(body), SIGNATURE_HEADER: signature}
    with pytest.raises(Unverified):
        sendgrid_reports(body, headers, SENDGRID.public_base64)


def test_sendgrid_with_an_unusable_configured_key_is_unverified_not_a_crash() -> None:
    body = dumps(samples.sendgrid_events())
    with pytest.raises(Unverified, match="cannot be checked"):
        sendgrid_reports(body, SENDGRID.headers(body), "not a key")


def test_sendgrid_signed_body_that_is_not_an_array_of_objects_is_a_report_error() -> None:
    for value, message in [({"event": "bounce"}, "JSON array"), ([1], "JSON object"), (["x"], "JSON object")]:
        with pytest.raises(ReportError, match=message):
            _sendgrid(value)
    body = b"[{"
    with pytest.raises(ReportError, match="not valid JSON"):
        sendgrid_reports(body, SENDGRID.headers(body), SENDGRID.public_base64)


@pytest.mark.parametrize(("field", "value"), [("email", 7), ("type", ["bounce"]), ("sg_event_id", 1.5), ("reason", {})])
def test_sendgrid_bounce_with_a_wrong_field_type_is_a_report_error(field: str, value: Any) -> None:
    event = {"event": "bounce", "email": "a@example.com", field: value}
    with pytest.raises(ReportError, match="SendGrid event 0"):
        _sendgrid([event])


def test_sendgrid_body_over_the_size_bound_is_refused_before_verification() -> None:
    body = b"[" + b" " * MAX_BODY + b"]"
    with pytest.raises(ReportError, match="larger than"):
        sendgrid_reports(body, {}, SENDGRID.public_base64)


def test_sendgrid_more_events_than_the_bound_is_a_report_error() -> None:
    with pytest.raises(ReportError, match="more than 10000"):
        _sendgrid([{"event": "open"}] * (MAX_EVENTS + 1))
    assert _sendgrid([{"event": "open"}] * MAX_EVENTS) == []


# --- check_sendgrid_key -------------------------------------------------------------------------


def test_check_sendgrid_key_accepts_base64_der_and_pem_p256_public_keys() -> None:
    check_sendgrid_key(SENDGRID.public_base64)
    check_sendgrid_key(SENDGRID.public_pem)


def _der(key: Any) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("not base64 at all!", "not a base64 DER or PEM"),
        (base64.b64encode(b"random bytes, not DER").decode(), "not a base64 DER or PEM"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a base64 DER or PEM"),
        (_der(ec.generate_private_key(ec.SECP384R1()).public_key()), "P-256"),
        (_der(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()), "P-256"),
    ],
)
def test_check_sendgrid_key_refuses_anything_but_a_p256_public_key_with_a_clear_message(key: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_sendgrid_key(key)


def test_check_sendgrid_key_refuses_a_private_key_pem() -> None:
    pem = SENDGRID.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ValueError, match="SendGrid verification key"):
        check_sendgrid_key(pem)


# --- Mailgun ------------------------------------------------------------------------------------


def test_mailgun_failed_permanent_is_a_hard_bounce_with_its_message_id_reason_and_id() -> None:
    body = samples.mailgun_body(samples.mailgun_failed_permanent(), MAILGUN_KEY)
    assert mailgun_reports(body, MAILGUN_KEY) == [
        Report(
            email="alice@example.com",
            type="hard",
            message_id=OUR_MESSAGE_ID,
            reason="550 5.1.1 The email account that you tried to reach does not exist. bounce",
            report_id="mailgun:G9Bn5sl1TC6nu79C8C0bwg",
        )
    ]


def test_mailgun_failed_temporary_is_a_soft_bounce() -> None:
    [report] = mailgun_reports(samples.mailgun_body(samples.mailgun_failed_temporary(), MAILGUN_KEY), MAILGUN_KEY)
    assert (report.email, report.type, report.report_id) == (
        "bob@example.com",
        "soft",
        "mailgun:Fs7-5t81S2ms-j2j2b4Dwg",
    )
    assert report.reason is not None and report.reason.startswith("452 4.2.2")


def test_mailgun_complained_is_a_complaint() -> None:
    [report] = mailgun_reports(samples.mailgun_body(samples.mailgun_complained(), MAILGUN_KEY), MAILGUN_KEY)
    assert (report.email, report.type, report.message_id, report.reason) == (
        "carol@example.com",
        "complaint",
        OUR_MESSAGE_ID,
        None,
    )


@pytest.mark.parametrize("severity", [None, "unknown"])
def test_mailgun_delivered_and_failed_without_a_known_severity_are_not_reports(severity: str | None) -> None:
    assert mailgun_reports(samples.mailgun_body(samples.mailgun_delivered(), MAILGUN_KEY), MAILGUN_KEY) == []
    event = {**samples.mailgun_failed_permanent(), "severity": severity}
    assert mailgun_reports(samples.mailgun_body(event, MAILGUN_KEY), MAILGUN_KEY) == []


def test_mailgun_signature_by_another_key_is_unverified() -> None:
    body = samples.mailgun_body(samples.mailgun_failed_permanent(), samples.mailgun_signing_key())
    with pytest.raises(Unverified, match="does not verify"):
        mailgun_reports(body, MAILGUN_KEY)


@pytest.mark.parametrize("field", ["timestamp", "token"])
def test_mailgun_tampered_signed_field_is_unverified(field: str) -> None:
    payload = json.loads(samples.mailgun_body(samples.mailgun_failed_permanent(), MAILGUN_KEY))
    payload["signature"][field] += "0"
    with pytest.raises(Unverified):
        mailgun_reports(dumps(payload), MAILGUN_KEY)


@pytest.mark.parametrize("signature", ["0" * 64, "deadbeef", "é" * 64, "A" * 64])
def test_mailgun_forged_signature_is_unverified(signature: str) -> None:
    payload = json.loads(samples.mailgun_body(samples.mailgun_failed_permanent(), MAILGUN_KEY))
    payload["signature"]["signature"] = signature
    with pytest.raises(Unverified):
        mailgun_reports(dumps(payload), MAILGUN_KEY)


@pytest.mark.parametrize(
    "signature",
    [None, "x", [], {}, {"timestamp": "1", "token": "t"}, {"timestamp": True, "token": "t", "signature": "s"}],
)
def test_mailgun_missing_or_incomplete_signature_is_unverified(signature: Any) -> None:
    payload = {"event-data": samples.mailgun_failed_permanent(), "signature": signature}
    with pytest.raises(Unverified):
        mailgun_reports(dumps(payload), MAILGUN_KEY)


def test_mailgun_without_a_configured_signing_key_is_unverified() -> None:
    with pytest.raises(Unverified, match="no signing key"):
        mailgun_reports(samples.mailgun_body(samples.mailgun_failed_permanent(), ""), "")


def test_mailgun_signature_covers_only_timestamp_and_token_so_event_data_is_not_protected() -> None:
    """Mailgun's documented scheme: a replayed (timestamp, token) is the caller's to refuse, not ours."""
    payload = json.loads(samples.mailgun_body(samples.mailgun_failed_permanent(), MAILGUN_KEY))
    payload["event-data"]["recipient"] = "mallory@example.com"
    assert mailgun_reports(dumps(payload), MAILGUN_KEY)[0].email == "mallory@example.com"


@pytest.mark.parametrize(
    ("event_data", "message"),
    [
        (None, "must be a JSON object"),
        ([], "must be a JSON object"),
        ({"event": "failed", "severity": "permanent", "recipient": 5}, "'recipient' must be a string"),
        ({"event": "failed", "severity": "permanent", "recipient": "a@b.c", "message": []}, "'message'"),
        (
            {"event": "failed", "severity": "permanent", "recipient": "a@b.c", "delivery-status": {"code": [550]}},
            "code",
        ),
        ({"event": "complained", "recipient": "a@b.c", "id": {"x": 1}}, "event id"),
    ],
)
def test_mailgun_signed_body_with_a_malformed_event_data_is_a_report_error(event_data: Any, message: str) -> None:
    payload = {"signature": samples.mailgun_signature(MAILGUN_KEY), "event-data": event_data}
    with pytest.raises(ReportError, match=message):
        mailgun_reports(dumps(payload), MAILGUN_KEY)


@pytest.mark.parametrize("body", [b"", b"signature=x&token=y", b"[]", b"\xff\xfe", b"null"])
def test_mailgun_body_that_is_not_a_json_object_is_a_report_error(body: bytes) -> None:
    with pytest.raises(ReportError):
        mailgun_reports(body, MAILGUN_KEY)


# --- Postmark -----------------------------------------------------------------------------------


def test_postmark_hard_bounce_is_hard_with_description_and_details_and_no_message_id() -> None:
    assert postmark_reports(dumps(samples.postmark_hard_bounce())) == [
        Report(
            email="john@example.com",
            type="hard",
            message_id=None,  # Postmark's MessageID is its own, not ours
            reason="The server was unable to deliver your message (ex: unknown user, mailbox not found). "
            "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            report_id="postmark:4323372036854775807",
        )
    ]


def test_postmark_soft_bounce_is_soft_and_spam_complaint_is_a_complaint() -> None:
    [soft] = postmark_reports(dumps(samples.postmark_soft_bounce()))
    [complaint] = postmark_reports(dumps(samples.postmark_spam_complaint()))
    assert (soft.email, soft.type, soft.report_id) == ("jane@example.com", "soft", "postmark:4323372036854775808")
    assert (complaint.email, complaint.type, complaint.report_id) == ("jim@example.com", "complaint", "postmark:42")


@pytest.mark.parametrize(
    ("bounce_type", "kind"),
    [
        *[
            (t, "hard")
            for t in ["HardBounce", "BadEmailAddress", "ManuallyDeactivated", "AddressChange", "DMARCPolicy"]
        ],
        *[(t, "soft") for t in ["SoftBounce", "Transient", "DnsError", "Unknown", "Blocked"]],
        *[(t, "complaint") for t in ["SpamComplaint", "SpamNotification"]],
        *[
            (t, None)
            for t in [
                "AutoResponder",
                "Subscribe",
                "Unsubscribe",
                "OpenRelayTest",
                "ChallengeVerification",
                "VirusNotification",
                "Unconfirmed",
                "SMTPApiError",
                "InboundError",
                "TemplateRenderingFailed",
                "SomethingNew",
            ]
        ],
    ],
)
def test_postmark_bounce_type_maps_to_its_report_type_or_is_ignored(bounce_type: str, kind: str | None) -> None:
    reports = postmark_reports(dumps({**samples.postmark_hard_bounce(), "Type": bounce_type}))
    assert [r.type for r in reports] == ([kind] if kind else [])


def test_postmark_message_id_comes_only_from_a_message_id_in_metadata_or_headers() -> None:
    in_metadata = {**samples.postmark_hard_bounce(), "Metadata": {"Message-ID": "x.1@mail.stepwise.example"}}
    in_headers = {**samples.postmark_hard_bounce(), "Headers": [{"Name": "Message-ID", "Value": OUR_MESSAGE_ID}]}
    assert postmark_reports(dumps(in_metadata))[0].message_id == "<x.1@mail.stepwise.example>"
    assert postmark_reports(dumps(in_headers))[0].message_id == OUR_MESSAGE_ID


def test_postmark_array_of_records_is_tolerated_and_other_record_types_are_ignored() -> None:
    records = [samples.postmark_delivery(), samples.postmark_hard_bounce(), samples.postmark_spam_complaint()]
    assert [r.type for r in postmark_reports(dumps(records))] == ["hard", "complaint"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"Bounce", "not valid JSON"),
        (b"42", "must be a JSON object"),
        (b"[1]", "Postmark record 0 must be a JSON object"),
        (b'{"RecordType": "Bounce", "Type": "HardBounce", "Email": "a@b.c", "ID": 1.5}', "event id"),
        (b'{"RecordType": "Bounce", "Type": "HardBounce", "Email": "a@b.c", "ID": 18446744073709551616}', "event id"),
        (b'{"RecordType": "Bounce", "Type": "HardBounce", "Email": "a@b.c", "ID": 1e400}', "not valid JSON"),
        (b'{"RecordType": "Bounce", "Type": "HardBounce", "Email": ["a@b.c"]}', "'Email' must be a string"),
        (b'{"RecordType": 1}', "'RecordType' must be a string"),
        (b'{"RecordType": "Bounce", "Type": "HardBounce", "Email": "a@b.c", "Headers": {}}', "'Headers'"),
    ],
)
def test_postmark_malformed_body_is_a_report_error(body: bytes, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        postmark_reports(body)


# --- Amazon SES through SNS ---------------------------------------------------------------------


def test_ses_subscription_confirmation_gives_the_url_to_fetch_and_the_topic() -> None:
    envelope = samples.sns_subscription_confirmation()
    assert ses_reports(dumps(envelope)) == SnsConfirmation(subscribe_url=envelope["SubscribeURL"], topic_arn=TOPIC_ARN)


@pytest.mark.parametrize(
    "url",
    [None, "", "file:///etc/passwd", "javascript:alert(1)", "https://", "https://sns.example/\r\nX: y", "http://[::1"],
)
def test_ses_subscription_confirmation_without_an_http_url_is_a_report_error(url: Any) -> None:
    envelope = {**samples.sns_subscription_confirmation(), "SubscribeURL": url}
    with pytest.raises(ReportError, match="SubscribeURL"):
        ses_reports(dumps(envelope))


def test_ses_permanent_bounce_is_one_hard_report_per_recipient_with_our_message_id() -> None:
    assert _ses_list(samples.ses_bounce()) == [
        Report(
            email=address,
            type="hard",
            message_id=OUR_MESSAGE_ID,
            reason=f"5.1.1 smtp; 550 5.1.1 <{address}>... User unknown",
            report_id=f"ses:{SNS_MESSAGE_ID}:{address}",
        )
        for address in ["jane@example.com", "richard@example.com"]
    ]


@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined"])
def test_ses_transient_and_undetermined_bounces_are_soft(bounce_type: str) -> None:
    assert [r.type for r in _ses_list(samples.ses_bounce(bounce_type, "a@example.com"))] == ["soft"]


def test_ses_complaint_is_a_complaint_per_recipient_with_the_feedback_type() -> None:
    [report] = _ses_list(samples.ses_complaint())
    assert report == Report(
        email="richard@example.com",
        type="complaint",
        message_id=OUR_MESSAGE_ID,
        reason="abuse",
        report_id=f"ses:{SNS_MESSAGE_ID}:richard@example.com",
    )


def test_ses_event_publishing_uses_event_type_instead_of_notification_type() -> None:
    message = samples.ses_bounce()
    message["eventType"] = message.pop("notificationType")
    assert len(_ses_list(message)) == 2


def test_ses_message_id_is_never_the_ses_mail_message_id() -> None:
    message = samples.ses_bounce()
    del message["mail"]["commonHeaders"]
    assert {r.message_id for r in _ses_list(message)} == {None}


def test_ses_delivery_and_unsubscribe_confirmation_are_not_reports() -> None:
    assert _ses_list(samples.ses_delivery()) == []
    assert ses_reports(dumps({**samples.sns_subscription_confirmation(), "Type": "UnsubscribeConfirmation"})) == []


@pytest.mark.parametrize(
    ("envelope", "message"),
    [
        ({"Type": "Notification"}, "lacks 'Message'"),
        ({"Type": "Notification", "Message": "not json"}, "not valid JSON"),
        ({"Type": "Notification", "Message": "[]"}, "the SES notification must be a JSON object"),
        ({"Type": "Something"}, "Type 'Something'"),
        ({"Message": "{}"}, "lacks 'Type'"),
        ({"Type": "Notification", "Message": '{"notificationType": "Bounce", "bounce": {}}'}, "JSON array"),
        (
            {
                "Type": "Notification",
                "Message": '{"notificationType": "Complaint", "complaint": {"complainedRecipients": [{}]}}',
            },
            "lacks 'emailAddress'",
        ),
    ],
)
def test_ses_malformed_envelope_or_notification_is_a_report_error(envelope: dict[str, Any], message: str) -> None:
    with pytest.raises(ReportError, match=message):
        ses_reports(dumps(envelope))


# --- rules shared by every provider -------------------------------------------------------------


def _postmark_with(**fields: Any) -> list[Report]:
    return postmark_reports(dumps({**samples.postmark_hard_bounce(), **fields}))


def test_reason_is_trimmed_to_500_characters_with_cr_lf_and_nul_replaced_by_spaces() -> None:
    [report] = _postmark_with(Description="line one\r\nline\x00two", Details="x" * 2000)
    assert report.reason is not None
    assert report.reason.startswith("line one  line two xxx")
    assert len(report.reason) == 500


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("  anna@example.com \t", "anna@example.com"),
        ("anna.example.com", None),
        ("anna@example@com", None),
        ("anna@exa\r\nmple.com", None),
        ("anna\x00@example.com", None),
        ("@example.com", None),
        ("", None),
    ],
)
def test_addresses_are_stripped_and_implausible_ones_skipped(raw: str, kept: str | None) -> None:
    assert [r.email for r in _postmark_with(Email=raw)] == ([kept] if kept else [])
    assert [r.email for r in _sendgrid([{"event": "spamreport", "email": raw}])] == ([kept] if kept else [])


@pytest.mark.parametrize(
    "call",
    [postmark_reports, ses_reports, lambda body: mailgun_reports(body, MAILGUN_KEY)],
    ids=["postmark", "ses", "mailgun"],
)
def test_body_over_10_mib_is_a_report_error(call: Callable[[bytes], object]) -> None:
    with pytest.raises(ReportError, match="larger than"):
        call(b"{" + b" " * MAX_BODY + b"}")


# --- any input: a result or ReportError/Unverified, never another exception -------------------

_WORDS = [
    "event", "type", "email", "smtp-id", "status", "reason", "sg_event_id", "bounce", "blocked", "spamreport",
    "signature", "event-data", "severity", "permanent", "temporary", "failed", "complained", "recipient", "message",
    "headers", "message-id", "delivery-status", "code", "description", "id", "RecordType", "Bounce", "SpamComplaint",
    "Type", "HardBounce", "SoftBounce", "Email", "ID", "Metadata", "Headers", "Name", "Value", "Message-ID",
    "Description", "Details", "notificationType", "eventType", "Complaint", "bounceType", "Permanent", "Transient",
    "bouncedRecipients", "complainedRecipients", "emailAddress", "diagnosticCode", "mail", "commonHeaders",
    "messageId", "complaint", "complaintFeedbackType", "a@example.com", " b@example.com\n", "<x@y>", "",
]  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(_WORDS)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_WORDS) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=30,
)


def _reports_or_refusal(call: Callable[[], list[Report] | SnsConfirmation], provider: str) -> None:
    try:
        result = call()
    except (ReportError, Unverified) as refused:
        assert str(refused)
        return
    if isinstance(result, SnsConfirmation):
        assert result.subscribe_url.startswith(("http://", "https://"))
        return
    for report in result:
        assert report.type in {"hard", "soft", "complaint"}
        assert report.email == report.email.strip() and report.email.count("@") == 1
        assert not any(c in report.email for c in "\r\n\0")
        assert report.reason is None or (len(report.reason) <= 500 and not any(c in report.reason for c in "\r\n\0"))
        assert report.message_id is None or (report.message_id[0], report.message_id[-1]) == ("<", ">")
        assert report.report_id is None or report.report_id.startswith(f"{provider}:")


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200))
def test_random_bytes_give_reports_or_a_refusal_and_never_another_exception(body: bytes) -> None:
    _reports_or_refusal(lambda: sendgrid_reports(body, SENDGRID.headers(body), SENDGRID.public_base64), "sendgrid")
    _reports_or_refusal(lambda: mailgun_reports(body, MAILGUN_KEY), "mailgun")
    _reports_or_refusal(lambda: postmark_reports(body), "postmark")
    _reports_or_refusal(lambda: ses_reports(body), "ses")


@settings(max_examples=500, deadline=None)
@given(value=_JSON, events=st.lists(_JSON, max_size=4))
def test_random_json_gives_reports_or_a_report_error_and_never_another_exception(value: Any, events: list[Any]) -> None:
    signed = dumps(events)
    _reports_or_refusal(lambda: sendgrid_reports(signed, SENDGRID.headers(signed), SENDGRID.public_base64), "sendgrid")
    mailgun = dumps({"signature": samples.mailgun_signature(MAILGUN_KEY), "event-data": value})
    _reports_or_refusal(lambda: mailgun_reports(mailgun, MAILGUN_KEY), "mailgun")
    _reports_or_refusal(lambda: postmark_reports(dumps(value)), "postmark")
    _reports_or_refusal(lambda: postmark_reports(dumps(events)), "postmark")
    _reports_or_refusal(lambda: ses_reports(dumps(value)), "ses")
    sns = {"Type": "Notification", "MessageId": "m", "Message": json.dumps(value)}
    _reports_or_refusal(lambda: ses_reports(dumps(sns)), "ses")


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(["email", "type", "smtp-id", "status", "reason", "sg_event_id"]),
    value=_JSON,
    kind=st.sampled_from(["bounce", "spamreport"]),
)
def test_a_real_sendgrid_event_with_any_field_replaced_gives_a_report_or_a_report_error(
    field: str, value: Any, kind: str
) -> None:
    event = {**samples.sendgrid_events()[2], "event": kind, field: value}
    _reports_or_refusal(lambda: _sendgrid([event]), "sendgrid")


@settings(max_examples=300, deadline=None)
@given(
    path=st.sampled_from([("bounce",), ("mail",), ("mail", "commonHeaders"), ("bounce", "bouncedRecipients")]),
    value=_JSON,
)
def test_a_real_ses_bounce_with_any_part_replaced_gives_reports_or_a_report_error(
    path: tuple[str, ...], value: Any
) -> None:
    message = samples.ses_bounce()
    container = message
    for key in path[:-1]:
        container = container[key]
    container[path[-1]] = value
    _reports_or_refusal(lambda: ses_reports(dumps(samples.sns_notification(message))), "ses")
