"""Who may talk to a bot: allowed e-mail addresses, domains and organisations.

Security notes (docs/bot.md, "Access rules"):

- The sender's identity comes from Webex (the fetched message's ``personEmail`` and, for
  organisations and card submissions, ``GET /people/{id}``), never from anything the person
  typed or put in a card's inputs.
- A domain matches the part after the *last* ``@`` exactly, case-insensitively:
  ``example.com`` allows ``ann@example.com``, not ``ann@evil-example.com``,
  ``ann@example.com.evil.org`` or ``ann@sub.example.com`` (list subdomains explicitly).
- An organisation id is the strongest rule: Webex verifies which organisation a person
  belongs to, while an e-mail domain only says which mailbox the person proved they read.
- Rules combine with OR inside one :class:`Access` (any listed address, domain or
  organisation admits), and with AND between the bot's rule and a command's rule.
- An :class:`Access` with nothing listed admits everyone (the default: no rule).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Access", "Sender"]


class Sender(Protocol):
    """What a rule looks at: the context provides it (fetching the person only if needed)."""

    @property
    def person_id(self) -> str | None: ...

    @property
    def person_email(self) -> str | None: ...

    def person_org_id(self) -> str | None: ...


def _lower(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip().lower() for v in values if v and v.strip())


@dataclass(frozen=True)
class Access:
    """An allow-list. ``Access(domains=["example.com"], emails=["ext@partner.org"])``.

    ``emails`` and ``domains`` compare case-insensitively (a leading ``@`` on a domain is
    ignored); ``orgs`` are Webex organisation ids, compared exactly; ``person_ids`` are Webex
    person ids, compared exactly.
    """

    emails: Iterable[str] = ()
    domains: Iterable[str] = ()
    orgs: Iterable[str] = ()
    person_ids: Iterable[str] = ()
    _emails: frozenset[str] = field(init=False, repr=False, compare=False)
    _domains: frozenset[str] = field(init=False, repr=False, compare=False)
    _orgs: frozenset[str] = field(init=False, repr=False, compare=False)
    _people: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Strings are iterables too: Access(domains="example.com") would allow "e", "x", ...
        for name in ("emails", "domains", "orgs", "person_ids"):
            if isinstance(getattr(self, name), str):
                raise TypeError(f"Access({name}=...) takes a list of strings, not one string")
        object.__setattr__(self, "_emails", _lower(self.emails))
        object.__setattr__(self, "_domains", frozenset(d.lstrip("@") for d in _lower(self.domains)))
        object.__setattr__(self, "_orgs", frozenset(o.strip() for o in self.orgs if o.strip()))
        object.__setattr__(self, "_people", frozenset(p.strip() for p in self.person_ids if p))

    @property
    def is_open(self) -> bool:
        """Nothing listed: everyone is admitted."""
        return not (self._emails or self._domains or self._orgs or self._people)

    @property
    def needs_org(self) -> bool:
        """Checking this rule may need the sender's organisation (one ``GET /people/{id}``)."""
        return bool(self._orgs)

    def allows(self, sender: Sender) -> bool:
        """Whether ``sender`` is admitted. The organisation is asked for last, and only when
        no cheaper rule admitted the sender already."""
        if self.is_open:
            return True
        if self._people and sender.person_id in self._people:
            return True
        email = (sender.person_email or "").strip().lower()
        if email:
            if email in self._emails:
                return True
            local, at, domain = email.rpartition("@")
            if at and local and domain in self._domains:
                return True
        if self._orgs:
            org = sender.person_org_id()
            return bool(org) and org in self._orgs
        return False
