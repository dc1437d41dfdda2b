"""Which names hold secrets, and what a command line with secrets looks like stored."""

from __future__ import annotations

import pytest

from kleio.core.capture.redact import MASK, is_secret_name, mask_command, masked_value
from kleio.core.model.commandline import configuration_of, split_command


@pytest.mark.parametrize(
    "name",
    [
        "--api-key",
        "apiKey",
        "APIKey",
        "--password",
        "--db-passwd",
        "--token",
        "hf_token",
        "GITHUBTOKEN",
        "--apikey",
        "client_secret",
        "AWS_SECRET_ACCESS_KEY",
        "SLURM_JOB_KEY",
        "--credentials",
        "--auth",
        "--passphrase",
        "--pwd",
        "--PW",
        "--pass",
        "--db-pass",
        "--cookie",
        "--Bearer",
        "--jwt",
        "--authorization",
        "--proxyAuthorization",
        "X-Amz-Signature",
        "access_token",
        "tlsCertificateKeyFilePassword",
        "api%5Fkey",
    ],
)
def test_names_holding_secrets(name):
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "--max-tokens",
        "--tokenizer",
        "--num-keys",
        "--keyframe",
        "--monkey",
        "--author",
        "--lr",
        "--passes",
        "--bypass",
        "--compass",
        "--power",
        "page",
        "authSource",
        "--auth-mechanism",
        "--key-type",
    ],
)
def test_names_whose_words_only_look_like_secrets_are_kept(name):
    assert not is_secret_name(name)


def test_a_configuration_is_masked_under_secret_keys_and_in_urls_at_any_depth():
    configuration = {
        "model": {"api_key": "sk-1", "layers": [64, {"token": 3}], "use_auth": True},
        "data": ["s3://AKIA:xyz@bucket/path", "plain"],
        "password": None,
    }
    assert masked_value(configuration) == {
        "model": {"api_key": MASK, "layers": [64, {"token": MASK}], "use_auth": True},
        "data": ["s3://***@bucket/path", "plain"],
        "password": None,
    }


def masked(*argv: str, project: str = "p"):
    command = split_command(argv)
    return mask_command(command, configuration_of(command, "."), project, ".")


def test_a_command_line_without_secrets_is_stored_as_given():
    stored = masked("python", "train.py", "--lr", "0.1", "data/")
    assert stored.argv == ("python", "train.py", "--lr", "0.1", "data/")
    assert (stored.masked, stored.unknown, stored.fingerprint) == ((), (), "")


def test_masked_words_are_named_and_their_real_values_hashed():
    stored = masked("python", "t.py", "--token=abc", "https://u:pw@host/x", "--lr", "1")
    assert stored.argv == ("python", "t.py", "--token=***", "https://***@host/x", "--lr", "1")
    assert stored.masked == ("--token", "https://***@host/x")
    assert stored.unknown == ()
    assert stored.fingerprint == masked(*stored_argv_of("abc")).fingerprint
    assert stored.fingerprint != masked(*stored_argv_of("abd")).fingerprint
    assert stored.fingerprint != masked(*stored_argv_of("abc"), project="q").fingerprint


def stored_argv_of(token: str) -> tuple[str, ...]:
    return ("python", "t.py", f"--token={token}", "https://u:pw@host/x", "--lr", "1")


def test_a_stored_command_line_given_back_has_unknown_values():
    stored = masked("python", "t.py", "--api-key", MASK, "--db", "pg://***@h/db")
    assert stored.unknown == ("--api-key", "--db")


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://x/y?access_token=abc&page=2", "https://x/y?access_token=***&page=2"),
        ("https://x/y?page=2&API_KEY=abc", "https://x/y?page=2&API_KEY=***"),
        ("https://x/cb#id_token=abc&state=s", "https://x/cb#id_token=***&state=s"),
        ("https://u:p@x/y?Signature=abc;key=d", "https://***@x/y?Signature=***;key=***"),
        ("https://x/y?token=", "https://x/y?token="),
        ("a;key=b", "a;key=b"),
        ("mongodb://h/?authSource=admin&tls=true", "mongodb://h/?authSource=admin&tls=true"),
    ],
)
def test_the_secret_parameters_of_a_url_are_masked(url, stored):
    assert masked("python", "t.py", url).argv[2] == stored


def test_a_url_parameter_given_back_masked_is_unknown():
    stored = masked("python", "t.py", "--url", "https://x/y?access_token=***")
    assert stored.unknown == ("--url",)
