"""Install and man pages (issue "Operations", item 7): cairn(8), cairn.yaml(5) and
cairnctl(8) are built from docs/man/*.scd with scdoc, render with groff without a warning,
name every flag, key and command the code has, and `cmake --install` puts them (with the
binaries and the unit) under share/man. Needs no testbed: no network."""
import os
import re
import subprocess

import pytest

from conftest import CAIRN_BIN

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(CAIRN_BIN)))  # build-x/net/cairn
PAGES = {"cairn.8": "man8", "cairn.yaml.5": "man5", "cairnctl.8": "man8"}


def page(name):
    path = os.path.join(BUILD, "man", PAGES[name], name)
    if not os.path.exists(path):
        pytest.fail("%s not built (the `man` target, scdoc): %s" % (name, path))
    return path


def render(name, nohyphen=True):
    # -rHY=0: no hyphenation, so a key broken over two lines is still found whole.
    opts = ["-rHY=0", "-rLL=200n"] if nohyphen else []
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww"] + opts + [page(name)],
                       capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, LC_ALL="C.UTF-8"))
    assert r.returncode == 0 and r.stderr == "", (name, r.returncode, r.stderr)
    # Plain text: drop groff's overstrike bold/underline.
    return re.sub(r".\x08", "", r.stdout)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_man_page_renders_without_warnings(name):
    text = render(name, nohyphen=False)
    assert "NAME" in text and "SEE ALSO" in text, text[:400]
    r = subprocess.run(["man", "-l", "-P", "cat", page(name)], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, MANWIDTH="80"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert name.rsplit(".", 1)[0] in r.stdout


def test_cairn_8_names_every_flag_of_the_binary():
    if not os.access(CAIRN_BIN, os.X_OK):
        pytest.skip("cairn not built")
    helptext = subprocess.run([CAIRN_BIN, "--help"], capture_output=True, text=True,
                              timeout=30).stdout
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", helptext))
    text = render("cairn.8")
    missing = sorted(f for f in flags if f not in text)
    assert flags and not missing, missing


def test_cairn_yaml_5_names_every_key_of_docs_config():
    with open(os.path.join(ROOT, "docs", "config.md")) as f:
        doc = f.read()
    keys = set(re.findall(r"^\| `([a-z_0-9.]+)` \|", doc, re.M))
    text = render("cairn.yaml.5")
    # limits.x, timeouts.x and cache.x are listed under their map (`limits: x (..)`).
    missing = sorted(k for k in keys if k.rsplit(".", 1)[-1] not in text)
    assert len(keys) > 40 and not missing, missing


def test_cairnctl_8_names_every_command_of_docs_cairnctl():
    with open(os.path.join(ROOT, "docs", "cairnctl.md")) as f:
        doc = f.read()
    cmds = set(re.findall(r"^### `([a-z]+)", doc, re.M))
    text = render("cairnctl.8")
    missing = sorted(c for c in cmds if c not in text)
    assert len(cmds) >= 5 and not missing, missing


def test_cmake_install_puts_pages_binaries_and_unit_in_place(tmp_path):
    dest = tmp_path / "dest"
    r = subprocess.run(["cmake", "--install", BUILD, "--prefix", "/usr/local"],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, DESTDIR=str(dest)))
    assert r.returncode == 0, r.stdout + r.stderr
    root = dest / "usr" / "local"
    for name, sect in PAGES.items():
        installed = root / "share" / "man" / sect / name
        assert installed.is_file(), installed
        with open(page(name), "rb") as a:
            assert installed.read_bytes() == a.read()
    assert (root / "sbin" / "cairn").is_file() and (root / "bin" / "cairnctl").is_file()
    unit = (root / "lib" / "systemd" / "system" / "cairn.service").read_text()
    assert "Documentation=man:cairn(8) man:cairn.yaml(5) man:cairnctl(8)" in unit
    assert "ExecStart=/usr/local/sbin/cairn -c /usr/local/etc/cairn/cairn.yaml" in unit
    # the example configuration is installed beside it, and is valid as it stands
    example = root / "etc" / "cairn" / "cairn.yaml.example"
    assert example.is_file(), example
    r = subprocess.run([str(root / "sbin" / "cairn"), "--check-config", "-c", str(example)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
