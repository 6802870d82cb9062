"""The audit's table and command without transformers installed (the table logic only)."""

import subprocess
import sys

from refimpl.testing.audit import AuditRow, AuditTable


def _table():
    return AuditTable("transformers", "9.9", (
        AuditRow("llama", "pass", "half", "10000", "128", "128", "default"),
        AuditRow("nanochat", "departs", "half", "-", "128", "128", "default",
                 "rotation direction reversed"),
        AuditRow("pixtral", "not driven", detail="only a vision rotary embedding"),
        AuditRow("glm4_moe", "identified", "half", "15505.2", "22", "42", "default",
                 "config not understood")))


def test_coverage_counts_driven_families():
    table = _table()
    assert table.driven == 3 and table.coverage == 0.75 and not table.passed
    assert table.summary() == ("4 families define a rotary embedding; driven automatically 3 "
                               "(75%): 1 pass, 1 depart from their config, 1 identified only; "
                               "1 not driven")
    assert AuditTable("t", "1", table.rows[:1]).passed


def test_text_and_markdown():
    table = _table()
    text = table.text().splitlines()
    assert text[0] == "transformers 9.9: rotary embeddings checked by refimpl"
    assert text[2].split() == ["llama", "half", "10000", "128", "128", "default", "pass"]
    markdown = table.markdown()
    assert "| nanochat | half | - | 128 | 128 | default | departs: rotation direction reversed |" \
        in markdown
    assert "python -m refimpl audit transformers --write" in markdown


def test_command_without_transformers_exits_2():
    code = ("import sys; sys.modules['transformers'] = None\n"
            "from refimpl.__main__ import main\n"
            "sys.exit(main(['audit', 'transformers']))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "interop extra" in result.stderr
