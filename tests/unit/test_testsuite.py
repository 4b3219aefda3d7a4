"""buildtools.testsuite: our tests are listed where runtests.py looks, the namespace script, the report."""

from __future__ import annotations

from pathlib import Path

from buildtools.paths import project_root
from buildtools.testsuite import STOCK_TESTS, asterisk_conf, install_tests, namespace_script, our_tests, read_report


def test_our_tests_have_configs_and_scenarios():
    root = project_root()
    tests = our_tests(root)
    assert len(tests) == 10
    for t in tests:
        d = root / "tests/testsuite" / t
        assert (d / "configs/ast1/pjsip.conf").is_file(), t
        assert "run-test" not in {p.name for p in d.iterdir()}, t
    assert not set(tests) & set(STOCK_TESTS)


def test_install_lists_tests_once(tmp_path: Path):
    root = project_root()
    checkout = tmp_path / "testsuite"
    (checkout / "tests/channels/pjsip/qualify").mkdir(parents=True)
    (checkout / "tests/tests.yaml").write_text("tests:\n    - dir: 'channels'\n")
    (checkout / "tests/channels/pjsip/qualify/tests.yaml").write_text("tests:\n    - test: 'basic'\n")
    first = install_tests(root, checkout)
    assert "tests/channels/pjsip/qualify/tests.yaml" in first
    q = (checkout / "tests/channels/pjsip/qualify/tests.yaml").read_text()
    assert "- test: 'basic'" in q and "- test: 'reachable_codes_503'" in q
    assert "- dir: 'reason_header'" in (checkout / "tests/channels/pjsip/tests.yaml").read_text()
    assert (checkout / "tests/tests.yaml").read_text().count("'channels'") == 1
    assert install_tests(root, checkout) == []  # idempotent


def test_namespace_script_isolates(tmp_path: Path):
    s = namespace_script(tmp_path, Path("/p"), ["tests/a"], [])
    assert "mount -t tmpfs buildtools-tmp /tmp" in s and "ip link set lo up" in s
    assert "runtests.py -t tests/a" in s and "astmoddir => /p/lib/asterisk/modules" in asterisk_conf(Path("/p"))


def test_read_report(tmp_path: Path):
    (tmp_path / "r.xml").write_text(
        '<testsuites><testsuite><testcase time="1.5" classname="channels.pjsip.x" name="a"/>'
        '<testcase time="0" classname="channels.pjsip.x" name="b"><skipped>Failed dependency</skipped></testcase>'
        '<testcase time="2" classname="apps.dial" name="c"><failure>boom\nmore</failure></testcase>'
        '</testsuite></testsuites>')
    got = [(o.name, o.status, o.detail) for o in read_report(tmp_path / "r.xml")]
    assert got == [("channels/pjsip/x/a", "passed", ""), ("channels/pjsip/x/b", "skipped", "Failed dependency"),
                   ("apps/dial/c", "failed", "boom")]
