"""Who votes: sign-in, pseudonyms, the voter profile vocabulary and the vote rate limit.

- Sign-in (`auth` setting): `none` (anonymous), `gradio` (Gradio's own login form; accounts from the
  HUBTOOL_SPACE_USERS secret) or `hf_oauth` ("Sign in with Hugging Face" on a hosted Space).
- The vote store never sees a user name: it keeps an HMAC pseudonym written as the reference dataset
  writes its `username` column (a signed 64-bit integer in decimal, e.g. "-6428509523293213064").
- Profile vocabulary: the reference's published values. `C1-C2` and `Bachelor` are the values the
  HiTZ/ebaluatoia dataset viewer shows; the other values follow the reference arena's registration form
  (hitz-zentroa/latxa-instruct, `arena_with_user.py`: "C1 (EGA) edo C2", "B1 edo B2", "A1 edo A2";
  "Unibertsitate ikasketak", "Lanbide-heziketa", "Batxilergoa", "DBH") written the same way.
- Rate limit: at most `vote_limit` votes per `vote_limit_window_s` seconds from one signed-in person, or
  from one client address for anonymous votes; a refusal says when the next vote is possible.
- Client address behind proxies (`proxy_hops` setting): a hosted Space sits behind Hugging Face's proxy, so
  the TCP peer is the proxy's internal address for every visitor, and one anonymous limit would count the
  whole world. With `proxy_hops: N` the address is read from X-Forwarded-For, N entries from the right (the
  address the outermost of the N trusted proxies saw; entries further left are whatever the client sent and
  are never trusted). Default: 1 on a hosted Space (SPACE_ID set), 0 elsewhere (the connection's address,
  as uvicorn reports it: uvicorn reads X-Forwarded-For only from 127.0.0.1, so a client cannot pick its own).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

# (label shown, value stored)
LANGUAGE_LEVELS = (("C1 or C2 (Basque is my first language, or I speak it as well as my others)", "C1-C2"),
                   ("B1 or B2 (I get by well, but not as well as in my other languages)", "B1-B2"),
                   ("A1 or A2 (basic)", "A1-A2"))
EDUCATION_LEVELS = (("University studies", "Bachelor"), ("Vocational training", "Vocational"),
                    ("Upper secondary (batxilergoa)", "High school"), ("Lower secondary (DBH)", "Secondary"))
SALT_ENV = "HUBTOOL_PSEUDONYM_SALT"
USERS_ENV = "HUBTOOL_SPACE_USERS"


def pseudonym(username: str, salt: bytes) -> str:
    """A stable pseudonym for ``username``: the first 8 bytes of HMAC-SHA256 as a signed decimal integer."""
    digest = hmac.new(salt, username.encode("utf-8"), hashlib.sha256).digest()
    return str(int.from_bytes(digest[:8], "big", signed=True))


def load_salt(votes_db: str | Path) -> bytes:
    """HUBTOOL_PSEUDONYM_SALT, or a random salt kept (0600) beside the vote store and reused after restarts."""
    if os.environ.get(SALT_ENV):
        return os.environ[SALT_ENV].encode("utf-8")
    path = Path(votes_db).parent / "pseudonym.salt"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return path.read_bytes().strip()


def parse_accounts(text: str | None) -> list[tuple[str, str]]:
    """`name:password` pairs separated by commas or newlines (the HUBTOOL_SPACE_USERS secret)."""
    accounts = []
    for item in (text or "").replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, password = item.partition(":")
        if not sep or not name.strip() or not password:
            raise ValueError(f"{USERS_ENV}: expected name:password, got an entry without one ({name.strip()!r})")
        accounts.append((name.strip(), password))
    return accounts


def profile_value(value: str | None, vocabulary: tuple) -> str | None:
    """A profile answer as stored (None when not given); labels and values both accepted."""
    if not value:
        return None
    for label, stored in vocabulary:
        if value in (label, stored):
            return stored
    raise ValueError(f"{value!r} is not one of {', '.join(v for _, v in vocabulary)}")


def proxy_hops_default() -> int:
    """1 on a hosted Space (Hugging Face sets SPACE_ID; its proxy adds the visitor's address), else 0."""
    return 1 if os.environ.get("SPACE_ID") else 0


def network_key(address: str | None) -> str | None:
    """The part of an address that names one network client: an IPv4 address, or an IPv6 address's /64
    (one home or phone network holds a whole /64 and can rotate through it); a port is dropped. None when
    ``address`` is not an IP address."""
    text = (address or "").strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def client_address(peer: str | None, forwarded_for: str | None, proxy_hops: int) -> str:
    """The network a vote is limited by (network_key): the TCP peer's, or with ``proxy_hops`` trusted proxies
    in front, that of the X-Forwarded-For entry ``proxy_hops`` from the right (fewer entries than hops: the
    leftmost one). An entry that is not an IP address counts as the peer."""
    if proxy_hops > 0 and forwarded_for:
        entries = [e.strip() for e in forwarded_for.split(",") if e.strip()]
        if entries:
            key = network_key(entries[-min(proxy_hops, len(entries))])
            if key:
                return key
    return network_key(peer) or peer or "unknown"


def forwarded_for(request) -> str | None:
    """Every X-Forwarded-For line, joined as uvicorn joins them: a proxy may add its own line instead of
    appending to the client's, and the first line alone would be the one the client wrote."""
    try:
        headers = request.headers
    except AttributeError:
        return None
    if hasattr(headers, "getlist"):  # the live request's headers (starlette)
        lines = headers.getlist("x-forwarded-for")
    else:  # a request Gradio rebuilt from a dict: one value per name
        lines = [v for k, v in dict(headers).items() if k.lower() == "x-forwarded-for"]
    return ", ".join(lines) or None


@dataclass(frozen=True)
class Voter:
    """The person behind a request: a pseudonym when signed in, and the client address for the rate limit."""

    user: str | None      # pseudonym; None when anonymous
    client: str
    name: str | None = None  # the signed-in name, only ever shown back to that person


def _duration(seconds: float) -> str:
    seconds = max(1, int(round(seconds)))
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min" + (f" {rest} s" if rest else "")


class RateLimiter:
    """A sliding window of vote times per key (pseudonym, client address); thread-safe, in memory."""

    def __init__(self, limit: int, window_s: float, clock=time.monotonic):
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._times: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()
        self._counted = 0

    @staticmethod
    def _keys(voter: Voter) -> list[tuple[str, str]]:
        """Signed-in voters are counted per person (a class behind one address must not share a limit);
        anonymous ones per client address (a new browser session must not reset it)."""
        return [("user", f"user:{voter.user}")] if voter.user else [("client", f"client:{voter.client}")]

    def check(self, voter: Voter) -> None:
        """Raise PermissionError (with an explanation) when this voter is at the limit; counts nothing."""
        with self._lock:
            self._check(voter, self.clock())

    def acquire(self, voter: Voter) -> None:
        """Count one vote, or raise PermissionError with an explanation when a key is at its limit."""
        with self._lock:
            now = self.clock()
            self._check(voter, now)
            if self.limit:
                for _, key in self._keys(voter):
                    self._times[key].append(now)
                self._counted += 1
                if self._counted % 1024 == 0:  # forget voters whose window has passed
                    for key in [k for k, t in self._times.items() if not t or now - t[-1] >= self.window_s]:
                        del self._times[key]

    def _check(self, voter: Voter, now: float) -> None:
        if not self.limit:
            return
        for who, key in self._keys(voter):
            times = self._times.get(key)
            if times is None:
                continue
            while times and now - times[0] >= self.window_s:
                times.popleft()
            if not times:  # keys are dropped once their window is empty: memory follows recent voters only
                del self._times[key]
                continue
            if len(times) >= self.limit:
                window, wait = _duration(self.window_s), _duration(self.window_s - (now - times[0]))
                source = ("You have cast" if who == "user" else "Your network address has sent")
                limit_of = "one person" if who == "user" else "one network address"
                votes = f"{self.limit} vote{'s' if self.limit != 1 else ''}"
                raise PermissionError(
                    f"{source} {votes} in the last {window}, the most this arena takes from {limit_of}. "
                    f"You can vote again in {wait}. Thank you for voting!")

    def release(self, voter: Voter) -> None:
        """Give back the last counted vote (it was not stored)."""
        with self._lock:
            for _, key in self._keys(voter):
                if self._times.get(key):
                    self._times[key].pop()
