from faststream.security import BaseSecurity, SASLPlaintext, SASLScram512

from batteryhub_platform.consumer import faststream_security
from batteryhub_platform.kafka import KafkaConnection


def test_plaintext_needs_no_security():
    assert faststream_security(KafkaConnection("k:9092")) is None


def test_sasl_over_tls_maps_mechanism_credentials_and_tls():
    security = faststream_security(
        KafkaConnection("k:9093", "SASL_SSL", "SCRAM-SHA-512", "user", "pw")
    )
    assert isinstance(security, SASLScram512)
    assert security.use_ssl is True and security.ssl_context is not None


def test_sasl_plain_without_tls():
    security = faststream_security(KafkaConnection("k:9092", "SASL_PLAINTEXT", "PLAIN", "u", "p"))
    assert isinstance(security, SASLPlaintext)
    assert not security.use_ssl


def test_tls_alone():
    security = faststream_security(KafkaConnection("k:9093", "SSL"))
    assert type(security) is BaseSecurity and security.use_ssl
