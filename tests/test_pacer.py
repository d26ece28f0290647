import pytest

from video_classifier.pacer import Pacer


def taken(timestamps, fps=5.0):
    pacer = Pacer(fps)
    return [t for t in timestamps if pacer.take(t)]


@pytest.mark.parametrize("source_fps", [10, 24, 25, 29.97, 30, 60])
def test_any_source_rate_gives_frames_every_200_ms(source_fps):
    times = [i / source_fps for i in range(int(source_fps * 10))]
    picked = taken(times)
    gaps = [b - a for a, b in zip(picked, picked[1:])]
    assert 49 <= len(picked) <= 51
    assert all(abs(g - 0.2) <= 0.2 * 0.1 + 1 / source_fps for g in gaps)
    assert abs(sum(gaps) / len(gaps) - 0.2) < 0.005  # no drift


def test_30_and_60_fps_copies_pick_the_same_moments():
    at30 = taken([i / 30 for i in range(300)])
    at60 = taken([i / 60 for i in range(600)])
    assert len(at30) == len(at60)
    assert max(abs(a - b) for a, b in zip(at30, at60)) < 1 / 30


def test_a_gap_restarts_the_schedule_instead_of_bursting():
    picked = taken([0.0, 0.2, 0.4, 3.0, 3.0333, 3.0667, 3.2, 3.4])
    assert picked == [0.0, 0.2, 0.4, 3.0, 3.2, 3.4]


def test_a_clock_that_goes_back_starts_over():
    picked = taken([0.0, 0.2, 0.4, 0.6, 0.0, 0.1, 0.2])
    assert picked == [0.0, 0.2, 0.4, 0.6, 0.0, 0.2]


def test_fps_must_be_positive():
    with pytest.raises(ValueError):
        Pacer(0)


@pytest.mark.parametrize("source_fps", [10, 24, 29.97, 30, 60])
def test_wanted_foretells_take_without_changing_it(source_fps):
    times = [i / source_fps for i in range(int(source_fps * 5))] + [9.0, 9.01, 2.0, 2.1, 2.2]  # a gap, then back
    pacer = Pacer(5.0)
    for t in times:
        foretold = pacer.wanted(t)
        assert pacer.wanted(t) == foretold  # asking changes nothing
        assert pacer.take(t) == foretold


def test_frames_nobody_watches_are_passed_over_and_the_model_gets_the_same_ones():
    """Headless on a file, the frames the model does not get are skipped undecoded: the same
    model frames, the same results, every frame still counted."""
    from conftest import media_path, open_classifier

    from video_classifier.outputs import Output
    from video_classifier.pipeline import Pipeline
    from video_classifier.sources.video_file import VideoFileSource

    class Collect(Output):
        def __init__(self):
            self.predictions = []

        def on_prediction(self, prediction):
            self.predictions.append((prediction.frame, prediction.time_s, [(c.label, c.score) for c in prediction.top]))

    class Counted(VideoFileSource):
        passed_over = 0

        def skip(self):
            Counted.passed_over += 1
            return super().skip()

    runs, passed_over = {}, {}
    for watched in (True, False):
        Counted.passed_over = 0
        classifier = open_classifier(window=0)
        collect = Collect()
        source = Counted(media_path("flipping_a_pancake.mkv"))
        pipeline = Pipeline(source, classifier, output=collect, realtime=False, frames_watched=watched).start()
        pipeline.wait(60)
        pipeline.stop()
        source.close()
        assert pipeline.error is None
        runs[watched] = (collect.predictions, pipeline.frames_captured)
        passed_over[watched] = Counted.passed_over
    assert len(runs[True][0]) > 40
    assert runs[True] == runs[False]
    assert passed_over[True] == 0 and passed_over[False] >= 4 * len(runs[False][0])  # 30 fps clip, 5 fps model
