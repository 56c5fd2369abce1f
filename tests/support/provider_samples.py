"""Webhook bodies and headers as SendGrid, Mailgun, Postmark and Amazon SES (through SNS) send them.

The shapes follow each provider's documented examples; the signatures are made with keys generated
here, in the test process (an ECDSA P-256 key pair for SendGrid, a random signing key for Mailgun).
Builders return fresh dicts, so a test may change a field before serialising.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

OUR_MESSAGE_ID = "<0192f3a1.7c2b@mail.stepwise.example>"  # the Message-ID Stepwise put on the original message
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"


def dumps(value: Any) -> bytes:
    """The body bytes of a JSON value, compact as the providers send it."""
    return json.dumps(value, separators=(",", ":")).encode()


# --- SendGrid -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendgridKey:
    """A verification key pair as SendGrid's "Signed Event Webhook" setting makes one."""

    private: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> SendgridKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_base64(self) -> str:
        """The public key as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo."""
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    @property
    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def headers(self, body: bytes, timestamp: str = "1700000000") -> dict[str, str]:
        """The signature headers (lower-cased names) SendGrid sends with `body`."""
        signature = self.private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            TIMESTAMP_HEADER: timestamp,
            "content-type": "application/json",
            "user-agent": "SendGrid Event API",
        }


def sendgrid_events() -> list[dict[str, Any]]:
    """One batch of the Event Webhook: processed, delivered, two bounces, deferred, dropped, open, spamreport."""
    base = {
        "timestamp": 1700000000,
        "category": ["welcome"],
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
    }
    return [
        {
            **base,
            "email": "anna@example.com",
            "event": "processed",
            "smtp-id": OUR_MESSAGE_ID,
            "sg_event_id": "cHJvY2Vzc2Vk",
        },
        {
            **base,
            "email": "anna@example.com",
            "event": "delivered",
            "smtp-id": OUR_MESSAGE_ID,
            "response": "250 OK",
            "ip": "168.1.1.1",
            "tls": 1,
            "sg_event_id": "ZGVsaXZlcmVk",
        },
        {
            **base,
            "email": "bob@example.com",
            "event": "bounce",
            "type": "bounce",
            "smtp-id": "<0192f3a1.bob@mail.stepwise.example>",
            "status": "5.1.1",
            "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
            "bounce_classification": "Invalid Address",
            "ip": "168.1.1.1",
            "tls": 1,
            "sg_event_id": "Ym91bmNlLWJvYg",
        },
        {
            **base,
            "email": "carol@example.org",
            "event": "bounce",
            "type": "blocked",
            "status": "4.7.1",
            "reason": "421 4.7.1 Temporarily rate limited",
            "bounce_classification": "Reputation",
            "sg_event_id": "YmxvY2tlZC1jYXJvbA",
        },
        {
            **base,
            "email": "dan@example.net",
            "event": "deferred",
            "response": "400 try again later",
            "attempt": "5",
            "sg_event_id": "ZGVmZXJyZWQ",
        },
        {
            **base,
            "email": "erin@example.com",
            "event": "dropped",
            "reason": "Bounced Address",
            "status": "5.0.0",
            "sg_event_id": "ZHJvcHBlZA",
        },
        {
            **base,
            "email": "anna@example.com",
            "event": "open",
            "useragent": "Mozilla/5.0",
            "ip": "255.255.255.255",
            "sg_event_id": "b3Blbg",
        },
        {**base, "email": "frank@example.com", "event": "spamreport", "sg_event_id": "c3BhbS1mcmFuaw"},
    ]


# --- Mailgun ------------------------------------------------------------------------------------


def mailgun_signing_key() -> str:
    """A fresh HTTP webhook signing key, as Mailgun's control panel shows one."""
    return secrets.token_hex(16)


def mailgun_signature(signing_key: str, timestamp: str = "1700000000", token: str | None = None) -> dict[str, str]:
    """The "signature" object: HMAC-SHA256(signing_key, timestamp + token) in hex."""
    token = token if token is not None else secrets.token_hex(25)
    digest = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": digest}


def mailgun_body(event_data: dict[str, Any], signing_key: str) -> bytes:
    """A signed Mailgun webhook body carrying `event_data`."""
    return dumps({"signature": mailgun_signature(signing_key), "event-data": event_data})


def _mailgun_event(event: str, recipient: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "event": event,
        "id": event_id,
        "timestamp": 1700000000.375624,
        "envelope": {"sender": "news@mail.stepwise.example", "transport": "smtp", "targets": recipient},
        "flags": {"is-routed": False, "is-authenticated": True, "is-system-test": False, "is-test-mode": False},
        "message": {
            "headers": {
                "to": recipient,
                "message-id": OUR_MESSAGE_ID.strip("<>"),  # Mailgun shows the Message-ID without brackets
                "from": "Stepwise <news@mail.stepwise.example>",
                "subject": "Welcome",
            },
            "attachments": [],
            "size": 1111,
        },
        "recipient": recipient,
        "recipient-domain": recipient.partition("@")[2],
        "campaigns": [],
        "tags": ["welcome"],
        "user-variables": {},
        **fields,
    }


def mailgun_failed_permanent() -> dict[str, Any]:
    return _mailgun_event(
        "failed",
        "alice@example.com",
        "G9Bn5sl1TC6nu79C8C0bwg",
        **{
            "log-level": "error",
            "severity": "permanent",
            "reason": "bounce",
            "delivery-status": {
                "attempt-no": 1,
                "code": 550,
                "message": "5.1.1 The email account that you tried to reach does not exist.",
                "description": "",
                "session-seconds": 0.43,
            },
        },
    )


def mailgun_failed_temporary() -> dict[str, Any]:
    return _mailgun_event(
        "failed",
        "bob@example.com",
        "Fs7-5t81S2ms-j2j2b4Dwg",
        **{
            "log-level": "warn",
            "severity": "temporary",
            "reason": "generic",
            "delivery-status": {
                "attempt-no": 1,
                "code": 452,
                "message": "4.2.2 The email account that you tried to reach is over quota.",
                "description": "",
                "retry-seconds": 600,
                "session-seconds": 0.1,
            },
        },
    )


def mailgun_complained() -> dict[str, Any]:
    return _mailgun_event("complained", "carol@example.com", "-Agny091SquKnsrW2NEKUA", **{"log-level": "warn"})


def mailgun_delivered() -> dict[str, Any]:
    return _mailgun_event(
        "delivered",
        "dan@example.com",
        "CPgfbmQMTCKtHW6uIWtuVe",
        **{"log-level": "info", "delivery-status": {"code": 250}},
    )


# --- Postmark -----------------------------------------------------------------------------------


def _postmark_record(record_type: str, bounce_type: str, type_code: int, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "RecordType": record_type,
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": bounce_type,
        "TypeCode": type_code,
        "Name": name,
        "Tag": "welcome",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",  # Postmark's own id, not our Message-ID
        "Metadata": {"sequence": "welcome"},
        "ServerID": 23,
        "Description": "",
        "Details": "",
        "Email": "john@example.com",
        "From": "news@mail.stepwise.example",
        "BouncedAt": "2023-11-14T22:13:20.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Welcome",
        "Content": "<Full dump of bounce>",
        **fields,
    }


def postmark_hard_bounce() -> dict[str, Any]:
    return _postmark_record(
        "Bounce",
        "HardBounce",
        1,
        "Hard bounce",
        Description="The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        Details="smtp;550 5.1.1 The email account that you tried to reach does not exist.",
    )


def postmark_soft_bounce() -> dict[str, Any]:
    return _postmark_record(
        "Bounce",
        "SoftBounce",
        4096,
        "Soft bounce",
        ID=4323372036854775808,
        Email="jane@example.com",
        Inactive=False,
        Description="Unable to temporarily deliver this email.",
        Details="smtp;452 4.2.2 Mailbox full",
    )


def postmark_spam_complaint() -> dict[str, Any]:
    return _postmark_record(
        "SpamComplaint",
        "SpamComplaint",
        512,
        "Spam complaint",
        ID=42,
        Email="jim@example.com",
        CanActivate=False,
        Description="The subscriber explicitly marked this message as spam.",
        Details="Test spam complaint details",
        Content="<Abuse report dump>",
    )


def postmark_delivery() -> dict[str, Any]:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Recipient": "john@example.com",
        "Tag": "welcome",
        "DeliveredAt": "2023-11-14T22:13:20Z",
        "Details": "Test delivery webhook details",
        "Metadata": {},
    }


# --- Amazon SES through SNS ---------------------------------------------------------------------

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:stepwise-ses-events"
SNS_MESSAGE_ID = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"


def sns_subscription_confirmation() -> dict[str, Any]:
    token = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736"
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": token,
        "TopicArn": TOPIC_ARN,
        "Message": f"You have chosen to subscribe to the topic {TOPIC_ARN}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}&Token={token}",
        "Timestamp": "2023-11-14T22:13:20.751Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
    }


def sns_notification(message: dict[str, Any], message_id: str = SNS_MESSAGE_ID) -> dict[str, Any]:
    """The SNS envelope of a notification: `message` travels JSON-encoded in "Message"."""
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC_ARN,
        "Message": json.dumps(message),
        "Timestamp": "2023-11-14T22:13:20.655Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEw6JRN...",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
        "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={TOPIC_ARN}:c9135db0-26c4-47ec-8998-413945fb5a96",
    }


def ses_mail(*recipients: str) -> dict[str, Any]:
    """The "mail" object: `messageId` is SES's own id; our Message-ID is in the headers."""
    return {
        "timestamp": "2023-11-14T22:13:18.237Z",
        "source": "news@mail.stepwise.example",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/mail.stepwise.example",
        "sourceIp": "127.0.3.0",
        "sendingAccountId": "123456789012",
        "messageId": "0100018bd0a1b2c3-11112222-3333-4444-5555-666677778888-000000",
        "destination": list(recipients),
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": "Stepwise <news@mail.stepwise.example>"},
            {"name": "To", "value": ", ".join(recipients)},
            {"name": "Message-ID", "value": OUR_MESSAGE_ID},
            {"name": "Subject", "value": "Welcome"},
        ],
        "commonHeaders": {
            "from": ["Stepwise <news@mail.stepwise.example>"],
            "to": list(recipients),
            "messageId": OUR_MESSAGE_ID,
            "subject": "Welcome",
        },
    }


def ses_bounce(bounce_type: str = "Permanent", *recipients: str) -> dict[str, Any]:
    """A Bounce notification; by default a permanent one for two recipients."""
    recipients = recipients or ("jane@example.com", "richard@example.com")
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": address,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": f"smtp; 550 5.1.1 <{address}>... User unknown",
                }
                for address in recipients
            ],
            "timestamp": "2023-11-14T22:13:20.237Z",
            "feedbackId": "0100018bd0a1b2c3-aaaabbbb-cccc-dddd-eeee-ffff00001111-000000",
            "remoteMtaIp": "127.0.2.0",
            "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
        },
        "mail": ses_mail(*recipients),
    }


def ses_complaint(*recipients: str) -> dict[str, Any]:
    recipients = recipients or ("richard@example.com",)
    return {
        "notificationType": "Complaint",
        "complaint": {
            "userAgent": "AnyCompany Feedback Loop (V0.01)",
            "complainedRecipients": [{"emailAddress": address} for address in recipients],
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2023-11-14T22:13:20.237Z",
            "timestamp": "2023-11-14T22:13:21.000Z",
            "feedbackId": "0100018bd0a1b2c3-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000",
        },
        "mail": ses_mail(*recipients),
    }


def ses_delivery() -> dict[str, Any]:
    return {
        "notificationType": "Delivery",
        "delivery": {
            "timestamp": "2023-11-14T22:13:20.237Z",
            "processingTimeMillis": 546,
            "recipients": ["anna@example.com"],
            "smtpResponse": "250 ok:  Message 64111812 accepted",
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
            "remoteMtaIp": "127.0.2.0",
        },
        "mail": ses_mail("anna@example.com"),
    }
