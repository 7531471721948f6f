"""Access rules, and each way a sender might try to pass one."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from django_webexteams.bot import Access


@dataclass
class Who:
    person_id: str | None = "P1"
    person_email: str | None = "ann@example.com"
    org: str | None = "ORG1"
    asked: int = 0

    def person_org_id(self) -> str | None:
        self.asked += 1
        return self.org


def test_nothing_listed_admits_everyone() -> None:
    assert Access().is_open and Access().allows(Who(person_email=None))


@pytest.mark.parametrize(
    ("email", "allowed"),
    [
        ("ann@example.com", True),
        ("Ann@Example.COM", True),
        ("ann@evil-example.com", False),  # a suffix is not the domain
        ("ann@example.com.evil.org", False),  # nor is a prefix
        ("ann@sub.example.com", False),  # subdomains are listed explicitly
        ("example.com", False),  # no local part
        ("@example.com", False),
        ("ann@evil.org@example.com", True),  # only the part after the last @ is the domain
        ("", False),
        (None, False),
    ],
)
def test_domains_match_exactly(email: str | None, allowed: bool) -> None:
    rule = Access(domains=["@Example.com"])
    assert rule.allows(Who(person_email=email, org=None)) is allowed


def test_emails_ids_and_orgs() -> None:
    rule = Access(emails=["Ops@Example.com"], person_ids=["P9"])
    assert rule.allows(Who(person_email="ops@example.com"))
    assert rule.allows(Who(person_id="P9", person_email="x@y.org"))
    assert not rule.allows(Who(person_email="ops@example.com.evil.org"))
    org_rule = Access(orgs=["ORG1"])
    assert org_rule.needs_org and org_rule.allows(Who())
    assert not org_rule.allows(Who(org="ORG2")) and not org_rule.allows(Who(org=None))


def test_the_organisation_is_asked_for_only_when_cheaper_rules_did_not_admit() -> None:
    rule = Access(domains=["example.com"], orgs=["ORG1"])
    sender = Who()
    assert rule.allows(sender) and sender.asked == 0
    outsider = Who(person_email="x@partner.org")
    assert rule.allows(outsider) and outsider.asked == 1


def test_a_single_string_is_refused_not_read_as_letters() -> None:
    with pytest.raises(TypeError, match="list of strings"):
        Access(domains="example.com")  # would otherwise allow e, x, a, ...
