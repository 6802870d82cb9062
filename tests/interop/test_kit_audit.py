"""``python -m refimpl audit transformers`` on the installed transformers."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from refimpl.__main__ import main  # noqa: E402
from refimpl.testing.audit import audit_transformers, drive_family, rotary_families  # noqa: E402


def test_llama_family_rows_pass_with_their_conventions():
    table = audit_transformers(only="llama")
    rows = {row.family: row for row in table.rows}
    assert rows["llama"].status == "pass" and rows["llama"].layout == "half"
    assert rows["llama"].base == "10000" and rows["llama"].rotary_dim == "128"
    assert rows["llama4"].layout == "interleaved"  # complex freqs_cis, (B, T, H, D)
    assert rows["video_llama_3"].status == "not driven" and "vision" in rows["video_llama_3"].detail


def test_partial_rotary_glue_and_mrope_families():
    table = audit_transformers(only="gpt_neox")
    neox = {row.family: row for row in table.rows}["gpt_neox"]
    assert neox.status == "pass" and int(neox.rotary_dim) == int(neox.head_dim) // 4
    phi = drive_family(*[f for f in rotary_families("phi") if f[0] == "phi"][0])
    assert phi.status == "pass" and int(phi.rotary_dim) < int(phi.head_dim)
    qwen = drive_family(*[f for f in rotary_families("qwen2_vl") if f[0] == "qwen2_vl"][0])
    assert qwen.status == "pass" and "M-RoPE [0x16 1x24 2x24]" in qwen.scaling


def test_a_real_departure_is_named():
    """nanochat rotates by -p omega: the kit names the reversed direction."""
    row = drive_family(*[f for f in rotary_families("nanochat") if f[0] == "nanochat"][0])
    assert row.status == "departs" and "direction reversed" in row.detail


def test_command_writes_the_markdown_table(tmp_path, capsys):
    out = tmp_path / "audit.md"
    assert main(["audit", "transformers", "--only", "qwen2_moe", "--write", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Rotary embeddings of transformers 5.")
    assert "| qwen2_moe | half | 10000 | 128 | 128 | default | pass |" in text
    assert "driven automatically 1 (100%)" in capsys.readouterr().out
