import pytest

from video_classifier.errors import LabelsError
from video_classifier.model.labels import load_labels, parse_labels, read_label_file


@pytest.mark.parametrize(
    "data",
    [
        b"walking\nrunning\njumping",  # no trailing newline
        b"walking\r\nrunning\r\njumping\r\n",  # CRLF
        b"\xef\xbb\xbfwalking\nrunning\njumping\n",  # UTF-8 BOM
        b"walking\n\nrunning\njumping\n\n\n",  # blank lines
        b"  walking \n\trunning\njumping  \n",  # stray spaces
    ],
)
def test_label_files_in_any_common_form_give_the_same_labels(data):
    assert parse_labels(data, "x") == ["walking", "running", "jumping"]


def test_non_ascii_labels_survive():
    assert parse_labels("café\nnaïve\n".encode(), "x") == ["café", "naïve"]


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"", "no labels"),
        (b"\n \n", "no labels"),
        (b"\x00\x01\x02abc", "binary"),
        (b"\xff\xfe\xfa", "not UTF-8"),
        ("jumping\r\n".encode("utf-16"), "is UTF-16 text: save it as UTF-8"),  # Notepad's "Unicode": it was "binary"
        ("jumping\r\n".encode("utf-32"), "is UTF-32 text: save it as UTF-8"),
    ],
)
def test_bad_label_content_is_a_clear_error(data, problem):
    with pytest.raises(LabelsError, match=problem):
        parse_labels(data, "x")


def test_missing_label_file_says_how_to_fix(tmp_path):
    with pytest.raises(LabelsError, match="not found.*--labels"):
        read_label_file(tmp_path / "nope.txt")


def test_label_count_must_match_the_model(tmp_path, a0_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    with pytest.raises(LabelsError, match="has 2 labels but the model outputs 600 classes"):
        load_labels(a0_path, labels, 600)


def test_the_kinetics_label_map_has_600_labels(labels_path, a0_path):
    labels = load_labels(a0_path, None, 600, default_path=labels_path)
    assert len(labels) == 600 and labels[0] == "abseiling" and "carving ice" in labels


def test_labels_embedded_in_the_model_metadata_are_used(tmp_path, a0_path, kinetics_labels):
    """TFLite metadata packs label files as a zip appended to the model; the model still loads."""
    import zipfile

    from video_classifier.model.movinet import MovinetStream

    model = tmp_path / "with_labels.tflite"
    model.write_bytes(a0_path.read_bytes())
    with zipfile.ZipFile(model, "a") as archive:
        archive.writestr("labels.txt", "\n".join(f"action {i}" for i in range(600)))
    assert MovinetStream(model).num_classes == 600
    assert load_labels(model, None, 600, tmp_path / "unused.txt")[:2] == ["action 0", "action 1"]
    # An explicit --labels still wins over the embedded ones.
    labels_file = tmp_path / "k600.txt"
    labels_file.write_text("\n".join(kinetics_labels))
    assert load_labels(model, labels_file, 600, tmp_path / "unused.txt") == kinetics_labels
