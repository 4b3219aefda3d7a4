"""Version parsing and ordering; Debian versions; version requests."""

import pytest

from buildtools.errors import ConfigError
from buildtools.version import Version, VersionSpec, debian_upstream


def test_ordering_puts_release_candidates_between_releases() -> None:
    v = Version.parse
    assert v("22.10.1") < v("22.11.0-rc1") < v("22.11.0-rc2") < v("22.11.0") < v("23.0.0")
    assert v("22.9.0") < v("22.10.0")  # numeric, not lexical
    assert v("22.11.0-beta1") < v("22.11.0-rc1")
    assert max(map(v, ["22.10.1", "22.11.0-rc2", "22.9.9"])) == v("22.11.0-rc2")


def test_parse_and_str() -> None:
    assert Version.parse("22.11.0~rc2") == Version.parse("22.11.0-rc2")
    assert str(Version.parse("22.11.0~rc2")) == "22.11.0-rc2"
    assert Version.parse("22.11.0-rc2").is_prerelease and not Version.parse("22.11.0").is_prerelease
    for bad in ("22", "GIT-22-abc", "GIT-master-", "22.x.1", ""):
        with pytest.raises(ValueError):
            Version.parse(bad)


def test_master_checkout() -> None:
    m = Version.parse("GIT-master-49fe30d0ff")
    assert m.is_master and m.branch == "master" and str(m) == "GIT-master-49fe30d0ff"
    assert m > Version.parse("23.5.0-rc1") and Version.parse("22.10.1").branch == "22"
    assert VersionSpec.parse("master").branch == "master" and VersionSpec.parse("master").matches(m)
    assert not VersionSpec.parse("23").matches(m)


@pytest.mark.parametrize(("debver", "upstream"), [
    ("1:22.10.1+dfsg+~cs6.17.60671434-1", "22.10.1"),
    ("1:22.11.0-rc2+dfsg+~cs6.17.60671434-1", "22.11.0-rc2"),
    ("1:22.11.0~rc2+dfsg-1", "22.11.0-rc2"),
    ("22.10.1-1", "22.10.1"),
])
def test_debian_upstream(debver: str, upstream: str) -> None:
    assert str(debian_upstream(debver)) == upstream


def test_spec() -> None:
    branch, exact = VersionSpec.parse("22"), VersionSpec.parse("22.10.1")
    assert branch.exact is None and branch.branch == "22" and str(branch) == "22"
    assert branch.matches(Version.parse("22.11.0-rc2")) and not branch.matches(Version.parse("21.9.0"))
    assert exact.matches(Version.parse("22.10.1")) and not exact.matches(Version.parse("22.10.0"))
    with pytest.raises(ConfigError, match="--version: 'latest'"):
        VersionSpec.parse("latest")
