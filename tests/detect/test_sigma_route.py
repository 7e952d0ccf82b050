"""Routing of Cisco Sigma rules to the Cisco syslog datasets, on parsed lines."""

from __future__ import annotations

from pathlib import Path

from sigma.rule import SigmaLogSource

from crownwatch.detect.sigma import RuleSet, add_yaml, bundled_rules, scan
from crownwatch.detect.sigma_route import DATASET, Route, routes

KEYWORD_RULE = """title: {title}
id: 00000000-0000-0000-0000-0000000000c1
level: medium
logsource: {logsource}
detection:
    keywords:
        - '{keyword}'
    condition: keywords
"""


def cisco(service: str | None) -> list[Route]:
    return routes(SigmaLogSource(category=None, product="cisco", service=service))


def rule(logsource: str, keyword: str) -> RuleSet:
    found = RuleSet()
    add_yaml(found, KEYWORD_RULE.format(title="t", logsource=logsource, keyword=keyword), "r.yml")
    assert not found.failures, found.failures
    return found


def test_cisco_services_route_to_the_cisco_datasets() -> None:
    every = frozenset({"cisco.ios", "cisco.asa", "cisco.ftd"})
    assert cisco("syslog") == cisco(None) == [(DATASET, every, frozenset())]
    ios: list[Route] = [(DATASET, frozenset({"cisco.ios"}), frozenset())]
    assert cisco("bgp") == cisco("ldp") == ios
    assert cisco("aaa") == [("event.action", frozenset({"cli_command"}), frozenset())]
    assert cisco("duo") == []  # Duo's JSON API logs: no parser, not routed


def test_cisco_keyword_rule_fires_on_cisco_lines_only(tmp_path: Path) -> None:
    line = "User:admin  logged command:no access-session port-control"
    ios = tmp_path / "ios.log"
    ios.write_text(f"172.16.5.10 6705: Feb 17 13:40:03.673: %PARSER-5-CFGLOG_LOGGEDCMD: {line}\n")
    linux = tmp_path / "messages"
    linux.write_text(f"Feb 17 13:40:03 host1 app[7]: {line}\n")
    keyword = "no access-session port-control"
    cisco_rule = rule("{product: cisco, service: aaa}", keyword)
    linux_rule = rule("{product: linux}", keyword)
    assert [m.rule_id for m in scan([ios], cisco_rule.rules)] == [cisco_rule.rules[0].id]
    assert scan([linux], cisco_rule.rules) == []
    assert scan([ios], linux_rule.rules) == []  # a Cisco line is not a Linux log
    assert len(scan([linux], linux_rule.rules)) == 1


def test_aaa_rules_see_commands_not_every_message(tmp_path: Path) -> None:
    asa = tmp_path / "vpn.log"
    asa.write_text(
        "Feb 17 13:40:01 vpn01 %ASA-6-113004: AAA user authentication Successful :"
        " server = 10.10.0.10 : user = alice\n"
        "Feb 17 13:40:02 vpn01 %ASA-4-113019: Group = staff, Username = alice, IP = 1.2.3.4,"
        " Session disconnected.\n"
        "Feb 17 13:40:03 vpn01 %ASA-5-111008: User 'admin' executed the"
        " 'username bob password x' command.\n"
    )
    accounts = rule("{product: cisco, service: aaa}", "username")  # as cisco_cli_local_accounts
    assert [m.timestamp.second for m in scan([asa], accounts.rules)] == [3]
    any_message = rule("{product: cisco}", "username")
    assert len(scan([asa], any_message.rules)) == 2


def test_shipped_cisco_network_rules_compile() -> None:
    found = bundled_rules(("rules/network/cisco/",))
    assert not found.failures, found.failures
    assert len(found.rules) >= 15  # measured: 15 (aaa 13, bgp 1, ldp 1); 0 before the routes
