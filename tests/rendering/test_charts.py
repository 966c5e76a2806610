"""The programme charts: Chinese legends, totals and a log scale for small departments, 暂无数据."""

from __future__ import annotations

import pytest

from certsvc.rendering.charts import NO_DATA, bar_chart_png, needs_log_scale, share_chart_png

pytestmark = pytest.mark.db_independent


def test_legend_and_labels_are_the_words_given() -> None:
    svg = bar_chart_png(
        "各部门签发证照（按状态）", ["锡林郭勒盟市场监督管理局", "二连浩特市市场监督管理局"],
        {"有效": [12, 3], "已撤销": [1, 0]}, ylabel="证照数", image_format="svg",
    ).decode("utf-8")
    for word in ("各部门签发证照（按状态）", "有效", "已撤销", "证照数", "锡林郭勒盟市场监督管理局"):
        assert word in svg
    assert "valid" not in svg and "revoked" not in svg
    assert ">13<" in svg and ">3<" in svg  # each bar's total is written on it
    assert "对数刻度" not in svg and NO_DATA not in svg


def test_a_small_department_beside_a_large_one_gets_a_log_scale() -> None:
    assert needs_log_scale([3000, 3]) and not needs_log_scale([30, 3]) and not needs_log_scale([5, 0])
    svg = bar_chart_png("各部门", ["大", "小"], {"有效": [3000, 3]}, ylabel="证照数", image_format="svg").decode("utf-8")
    assert "证照数（对数刻度）" in svg and ">3<" in svg and ">3000<" in svg


@pytest.mark.parametrize("stacks", [{}, {"有效": [0, 0]}])
def test_an_empty_bar_chart_says_no_data(stacks: dict[str, list[float]]) -> None:
    categories = ["甲", "乙"] if stacks else []
    svg = bar_chart_png("用证部门查询与核验", categories, stacks, image_format="svg").decode("utf-8")
    assert NO_DATA in svg and "用证部门查询与核验" in svg


def test_an_empty_share_chart_says_no_data_and_a_full_one_shows_the_share() -> None:
    empty = share_chart_png("有效证照被使用比例", 0, 0, part_label="已使用", rest_label="未使用", image_format="svg")
    assert NO_DATA in empty.decode("utf-8") and "已使用" not in empty.decode("utf-8")
    some = share_chart_png("有效证照被使用比例", 1, 4, part_label="已使用", rest_label="未使用", image_format="svg")
    assert "25%" in some.decode("utf-8") and "已使用" in some.decode("utf-8")
    assert bar_chart_png("t", [], {}).startswith(b"\x89PNG")
