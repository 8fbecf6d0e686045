"""Who may do what on the local hub (hub_tools/localhub/auth.py): the rules of its docstring as a table, tokens
from a real users file, and the refusals a malformed file or header gets. The same rules over HTTP, with the
real clients, are in test_localhub_security.py and test_localhub_api.py."""
from __future__ import annotations

import hashlib

import pytest

from hub_tools.localhub.auth import TokenRegistry, User
from hub_tools.localhub.errors import HubError

USERS = """\
users:
  - name: Alice
    token_sha256: {alice_hash}
    orgs: [HiTZ]
  - name: carol
    token: hf_carol_token
    orgs: [{{name: hitz, role: read}}, {{name: ixa, role: write}}, {{name: elhuyar}}]
  - name: ci
    token: hf_ci_token
    admin: true
  - name: bob
    token: hf_bob_token
    orgs:
"""


@pytest.fixture()
def registry(tmp_path) -> TokenRegistry:
    path = tmp_path / "users.yaml"
    # the hash as `sha256sum` prints it, upper-cased as some tools do: it is compared without case
    path.write_text(USERS.format(alice_hash=hashlib.sha256(b"hf_alice_token").hexdigest().upper()))
    return TokenRegistry.load(admin_token="hf_admin_token", admin_name="root", users_file=path)


def _user(registry: TokenRegistry, token: str) -> User:
    user = registry.authenticate(f"Bearer {token}")
    assert user is not None
    return user


# (token, namespace, may read its private repos, may write)
RULES = [
    ("hf_alice_token", "alice", True, True),     # own namespace, spelled in another case
    ("hf_alice_token", "hitz", True, True),      # org with the default role, write
    ("hf_alice_token", "HITZ", True, True),
    ("hf_alice_token", "ixa", False, False),     # someone else's org
    ("hf_alice_token", "bob", False, False),     # someone else's namespace
    ("hf_carol_token", "carol", True, True),
    ("hf_carol_token", "hitz", True, False),     # role read: reads, does not write
    ("hf_carol_token", "Hitz", True, False),
    ("hf_carol_token", "ixa", True, True),       # role write
    ("hf_carol_token", "elhuyar", True, True),   # {name} without a role: write
    ("hf_carol_token", "alice", False, False),
    ("hf_bob_token", "bob", True, True),         # `orgs:` left empty
    ("hf_bob_token", "hitz", False, False),
    ("hf_ci_token", "hitz", True, True),         # admin: everywhere
    ("hf_ci_token", "bob", True, True),
    ("hf_admin_token", "anyone", True, True),    # --token: admin
]


@pytest.mark.parametrize("token, namespace, read, write", RULES)
def test_who_may_read_and_write_which_namespace(registry, token, namespace, read, write):
    user = _user(registry, token)
    assert (user.can_read(namespace), user.can_access(namespace)) == (read, write)


def test_users_are_who_the_file_says(registry):
    assert _user(registry, "hf_alice_token") == User("Alice", ("HiTZ",), False, ())
    assert _user(registry, "hf_carol_token") == User("carol", ("ixa", "elhuyar"), False, ("hitz",))
    assert _user(registry, "hf_ci_token") == User("ci", (), True, ())
    assert _user(registry, "hf_admin_token") == User("root", (), True, ())
    assert TokenRegistry.load(admin_token="t").authenticate("Bearer t").name == "hubtool"  # the default name


def test_spelling_is_the_users_own(registry):
    alice, carol = _user(registry, "hf_alice_token"), _user(registry, "hf_carol_token")
    assert alice.spelling("ALICE") == "Alice" and alice.spelling("hitz") == "HiTZ"
    assert carol.spelling("HITZ") == "hitz" and carol.spelling("Elhuyar") == "elhuyar"
    assert alice.spelling("ixa") is None and carol.spelling("alice") is None


@pytest.mark.parametrize("header", [None, ""])
def test_no_header_is_anonymous(registry, header):
    assert registry.authenticate(header) is None


@pytest.mark.parametrize("header", ["bearer hf_bob_token", "BEARER hf_bob_token", "Bearer  hf_bob_token ",
                                    "Bearer hf_bob_token\t"])
def test_the_scheme_has_any_case_and_the_token_may_have_spaces_around(registry, header):
    assert registry.authenticate(header).name == "bob"


@pytest.mark.parametrize("header", ["Bearer hf_unknown", "Bearer ", "Bearer    ", "Basic hf_bob_token",
                                    "hf_bob_token", "Token hf_bob_token", "Bearer hf_bob_tokenx",
                                    "Bearer " + hashlib.sha256(b"hf_bob_token").hexdigest()])
def test_a_wrong_or_malformed_token_is_a_401(registry, header):
    with pytest.raises(HubError) as err:
        registry.authenticate(header)
    assert (err.value.status, err.value.message) == (401, "Invalid credentials in Authorization header")


def test_no_tokens_no_users():
    assert TokenRegistry.load().by_hash == {}
    with pytest.raises(HubError):
        TokenRegistry.load().authenticate("Bearer anything")


def test_an_empty_users_file_has_no_users(tmp_path):
    (tmp_path / "users.yaml").write_text("")
    assert TokenRegistry.load(users_file=tmp_path / "users.yaml").by_hash == {}


@pytest.mark.parametrize("body, message", [
    ("users:\n  - token: x\n", "users[0] needs a 'name'"),
    ("users:\n  - {name: a, token: x}\n  - hitz\n", "users[1] needs a 'name'"),
    ("users:\n  - {name: a, token: x}\n  - {name: '', token: y}\n", "users[1] needs a 'name'"),
    ("users:\n  - {name: a}\n", "users[0] (a) needs 'token' or 'token_sha256'"),
    ("users:\n  - {name: a, token: x, orgs: [{name: hitz, role: admin}]}\n", "users[0].orgs: each org is a name"),
    ("users:\n  - {name: a, token: x, orgs: [{role: read}]}\n", "users[0].orgs: each org is a name"),
    ("users:\n  - {name: a, token: x, orgs: [3]}\n", "users[0].orgs: each org is a name"),
    ("users:\n  - {name: a, token: x, orgs: [[hitz]]}\n", "users[0].orgs: each org is a name"),
])
def test_a_malformed_users_file_says_which_entry(tmp_path, body, message):
    path = tmp_path / "users.yaml"
    path.write_text(body)
    with pytest.raises(ValueError) as err:
        TokenRegistry.load(users_file=path)
    assert str(err.value).startswith(f"{path}: {message}"), str(err.value)


def test_a_user_is_no_admin_unless_said_so_and_cannot_be_changed():
    """The registry hands the same User to every request with that token: nothing may turn it into another."""
    import dataclasses

    bob = User("bob")
    assert not bob.admin and not bob.can_access("hitz") and not bob.can_read("hitz") and bob.can_access("bob")
    with pytest.raises(dataclasses.FrozenInstanceError):
        bob.admin = True  # type: ignore[misc]
