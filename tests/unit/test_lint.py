"""buildtools.lint: each rule catches what it names (real xmllint, a small DTD)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from buildtools.lint import added_lines, lint_alembic, lint_c_whitespace, lint_message, validate_file_docs

GOOD = """res_pjsip_foo: Do the thing

The thing was not done. It is now done, in a way that keeps the
behaviour of everything else.

Resolves: #112

UserNote: The thing is done.
"""


def msgs(msg, files=("res/res_pjsip_foo.c",), added=""):
    return [f.message for f in lint_message(msg, list(files), added, "commit 1")]


def test_good_message_is_clean():
    assert msgs(GOOD, added='+\t<function name="FOO" language="en_US">') == []


@pytest.mark.parametrize("msg, expected", [
    ("Do the thing\n\nBody.\n", "is not '<subsystem>: <summary>'"),
    ("res_foo: " + "x" * 70 + "\n\nBody.\n", "subject is 79 characters"),
    ("res_foo: Do it.\n\nBody.\n", "ends with a period"),
    ("res_foo: Do it\n", "no body"),
    ("res_foo: Do it\n\n" + "word " * 16 + "\n", "wrap the body at 72"),
    ("res_foo: Do it\n\nBody.\n\nResolves: 112\n", "takes one issue"),
    ("res_foo: Do it\n\nBody.\n\nResolves: #1\n\nMore text.\n", "text after the trailers"),
    ("res_foo: Do it\n\nBody.\n\ncherry-pick-to: 22\n", "belongs in a PR comment"),
    ("res_foo: Do it\n\nBody.\n\nUsrNote: x\n", "unknown trailer"),
])
def test_bad_messages(msg, expected):
    assert any(expected in m for m in msgs(msg)), msgs(msg)


def test_user_visible_change_needs_usernote():
    msg = GOOD.replace("\n\nUserNote: The thing is done.", "")
    assert any("no UserNote" in m for m in msgs(msg, added='+\t\t<configOption name="x">'))


def test_alembic_needs_upgradenote():
    files = ["contrib/ast-db-manage/config/versions/abc_add.py"]
    assert any("UpgradeNote" in m for m in msgs(GOOD, files))
    ok = GOOD + "\nUpgradeNote: The alembic migration abc adds a column.\n"
    assert not any("UpgradeNote" in m for m in msgs(ok, files))


def test_c_whitespace():
    text = "int a;\n\tint b; \n    int c;\n\t * comment\n/*** DOCUMENTATION\n\t\t same => n\n ***/\n\t\t int d;\n"
    found = {(f.where, f.message.split(" (")[0]) for f in lint_c_whitespace("x.c", text, range(1, 9))}
    assert found == {("x.c:2", "trailing white space"), ("x.c:3", "indented with spaces"),
                     ("x.c:8", "indented with spaces")}


def test_added_lines():
    diff = "+++ b/x.c\n@@ -1,0 +2,3 @@\n+a\n+b\n+c\n@@ -9 +12 @@\n-x\n+y\n"
    assert added_lines(diff) == {"x.c": {2, 3, 4, 12}}


def test_alembic_heads(tmp_path: Path):
    v = tmp_path / "contrib/ast-db-manage/config/versions"
    v.mkdir(parents=True)
    (v / "a.py").write_text("revision = 'aaa'\ndown_revision = None\n")
    (v / "b.py").write_text("revision = 'bbb'\ndown_revision = 'aaa'\n")
    assert lint_alembic(tmp_path) == []
    (v / "c.py").write_text("revision = 'ccc'\ndown_revision = 'aaa'\n")
    (v / "d.py").write_text("revision = 'ddd'\ndown_revision = 'fff'\n")
    found = [str(f) for f in lint_alembic(tmp_path)]
    assert any("down_revision fff is not a revision" in f for f in found)
    assert any("alembic heads" in f and "bbb" in f and "ccc" in f for f in found)


@pytest.mark.skipif(not shutil.which("xmllint"), reason="xmllint (libxml2-utils) not installed")
def test_docs_against_dtd(tmp_path: Path):
    (tmp_path / "doc").mkdir()
    (tmp_path / "doc/appdocsxml.dtd").write_text(
        "<!ELEMENT docs (function)*>\n<!ATTLIST docs xmlns:xi CDATA #FIXED \"http://www.w3.org/2001/XInclude\">\n"
        "<!ELEMENT function (since?, synopsis)>\n<!ATTLIST function name CDATA #REQUIRED language CDATA #REQUIRED>\n"
        "<!ELEMENT since (version)+>\n<!ELEMENT version (#PCDATA)>\n<!ELEMENT synopsis (#PCDATA)>\n")
    good = "/*** DOCUMENTATION\n\t<function name=\"F\" language=\"en_US\">\n\t\t<synopsis>x</synopsis>\n\t</function>\n ***/\n"
    (tmp_path / "f.c").write_text(good)
    assert validate_file_docs(tmp_path, "f.c") == []
    (tmp_path / "f.c").write_text("int x;\n" + good.replace("<synopsis>x</synopsis>", "<synopsys>x</synopsys>"))
    found = validate_file_docs(tmp_path, "f.c")
    assert found and found[0].where.startswith("f.c:") and "appdocsxml.dtd" in found[0].message
    assert int(found[0].where.split(":")[1]) in (3, 4, 5)
