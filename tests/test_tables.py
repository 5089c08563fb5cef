"""CSV reading: header detection column by column, the header override, label columns, encodings, missing labels."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from xpnet import XPNetValueError
from xpnet.datasets.files import load_file, load_inputs
from xpnet.datasets.tables import read_table


def write(tmp_path: Path, text: str, name: str = "t.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_string_labels_without_a_header_are_data(tmp_path):
    loaded = load_file(write(tmp_path, "5.1,3.5,setosa\n4.9,3.0,setosa\n6.3,2.5,virginica\n"))
    assert loaded.features is None and loaded.label == 2
    assert loaded.x.shape == (3, 2) and loaded.y.tolist() == ["setosa", "setosa", "virginica"]


def test_a_header_is_words_over_numbers_in_some_column(tmp_path):
    loaded = load_file(write(tmp_path, "width,height,species\n5.1,3.5,setosa\n4.9,3.0,virginica\n"))
    assert loaded.features == ["width", "height"] and loaded.label == "species"
    assert loaded.x.tolist() == [[5.1, 3.5], [4.9, 3.0]]


def test_numbers_over_numbers_are_data_and_the_override_wins(tmp_path):
    path = write(tmp_path, "0,1,2\n1.5,2.5,0\n3.5,4.5,1\n")
    assert load_file(path).x.shape == (3, 2)
    named = load_file(path, header=True)
    assert named.features == ["0", "1"] and named.x.shape == (2, 2) and named.y.tolist() == [0, 1]
    words = write(tmp_path, "a,b,c\n1,2,0\n", name="w.csv")
    with pytest.raises(XPNetValueError, match=r"'column 0' must hold numbers; line 1 has 'a'"):
        load_file(words, header=False)


def test_a_header_name_wins_over_a_column_number(tmp_path):
    path = write(tmp_path, "1,0,2\n7,8,1\n9,6,0\n")
    loaded = load_file(path, header=True, label="0")  # the column named "0" is the second one
    assert loaded.label == "0" and loaded.y.tolist() == [8, 6] and loaded.features == ["1", "2"]
    by_index = load_file(write(tmp_path, "a,b,c\n7,8,1\n9,6,0\n", name="i.csv"), label="0")
    assert by_index.label == "a" and by_index.y.tolist() == [7, 9]
    with pytest.raises(XPNetValueError, match=r"label: no column named 'd' .*the columns are \['a', 'b', 'c'\]"):
        load_file(tmp_path / "i.csv", label="d")


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    loaded = load_file(write(tmp_path, "label,a\n1,0.5\n0,0.25\n", encoding="utf-8-sig"))
    assert loaded.label == "label" and loaded.features == ["a"] and loaded.y.tolist() == [1, 0]


def test_text_that_is_not_utf8_gets_a_clear_error(tmp_path):
    path = write(tmp_path, "größe,label\n1,0\n", encoding="latin-1")
    with pytest.raises(XPNetValueError, match=r"not UTF-8 text .*save the table as UTF-8 CSV"):
        load_file(path)


@pytest.mark.parametrize("missing", ["", "NA", "nan", "?"])
def test_a_missing_label_names_its_line(tmp_path, missing):
    path = write(tmp_path, f"a,b,label\n1,2,x\n3,4,{missing}\n5,6,y\n")
    with pytest.raises(XPNetValueError, match=re.escape(f"label column 'label' has no value on line 3 ({missing!r})")):
        load_file(path)


@pytest.mark.parametrize("missing", ["", "NaN", "n/a"])
def test_a_missing_feature_names_its_column_and_line(tmp_path, missing):
    path = write(tmp_path, f"a,b,label\n1,2,x\n3,{missing},y\n5,{missing},y\n")
    expected = f"the column 'b' has no value on line 3 ({missing!r}) and 1 more lines; fill them in"
    with pytest.raises(XPNetValueError, match=re.escape(expected)):
        load_file(path)


def test_a_text_column_in_the_middle_may_be_the_label(tmp_path):
    path = write(tmp_path, "a,species,b\n1,iris,2\n3,rose,4\n")
    with pytest.raises(XPNetValueError, match=r"'species' must hold numbers; line 2 has 'iris'.*--label species"):
        load_file(path)
    assert load_file(path, label="species").features == ["a", "b"]


def test_inputs_to_predict_may_leave_the_label_column_empty(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2,\n3,4,\n")
    loaded = load_inputs(path, n_features=2)
    assert loaded.y is None and loaded.features == ["a", "b"] and loaded.x.tolist() == [[1, 2], [3, 4]]
    np.testing.assert_array_equal(load_inputs(path, 2, ["b", "a"]).x, [[2, 1], [4, 3]])


def test_inputs_of_an_unknown_file_type_are_refused(tmp_path):
    path = write(tmp_path, "1,2\n", name="inputs.xlsx")
    with pytest.raises(XPNetValueError, match=r"unknown file type '.xlsx'; expected .npz, .csv"):
        load_inputs(path, n_features=2)


def test_a_first_row_of_the_known_column_names_is_a_header(tmp_path):
    path = tmp_path / "numbered.csv"
    path.write_text("0,1,2\n5,6,1\n7,8,0\n")
    assert read_table(path).header is None  # numbers over numbers: data
    assert read_table(path, known=["0", "1"]).header == ["0", "1", "2"]  # a model's feature names, in order
    assert read_table(path, known=["1", "0"]).header is None  # in another order: not these names
