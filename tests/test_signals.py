"""utils.signals: a main thread that waits handles a stop signal at once, whichever thread the
kernel handed it to."""

import signal
import threading

import pytest

from utils.signals import join_thread, wait_event


class Stopped(Exception):
    pass


@pytest.fixture
def raising_handler():
    def stop(signum, frame):
        raise Stopped

    previous = signal.signal(signal.SIGUSR1, stop)
    yield
    signal.signal(signal.SIGUSR1, previous)


def signal_another_thread_then_set(event: threading.Event, after_s: float) -> threading.Event:
    """In 0.3 s, send SIGUSR1 to a thread other than the main one (a signal to the process that
    another thread took), then set ``event`` ``after_s`` later: a wait's fallback."""
    done = threading.Event()

    def target():
        done.wait(0.3)  # the main thread is waiting by then
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)  # this thread's C handler notes it
        done.wait(after_s)
        event.set()

    threading.Thread(target=target, daemon=True).start()
    return done


@pytest.mark.parametrize("wait", ["event", "thread"])
def test_a_signal_another_thread_received_stops_the_main_threads_wait_before_it_ends(raising_handler, wait):
    """A plain ``Event.wait()`` or ``Thread.join()`` in the main thread sleeps through it: the
    handler runs only when the wait ends (here, 30 s later, when the event is set)."""
    ended = threading.Event()
    waiter = threading.Thread(target=ended.wait, daemon=True)
    waiter.start()
    with pytest.raises(Stopped):
        done = signal_another_thread_then_set(ended, after_s=30.0)
        wait_event(ended) if wait == "event" else join_thread(waiter)
    assert not ended.is_set()  # handled while waiting, not after
    done.set()


def test_waits_end_as_the_waits_they_stand_for():
    event = threading.Event()
    assert wait_event(event, 0.1) is False
    event.set()
    assert wait_event(event, 0.1) is True
    worker = threading.Thread(target=event.wait)
    worker.start()
    assert join_thread(worker, 5.0) is True
    sleeper = threading.Thread(target=threading.Event().wait, args=(1.0,), daemon=True)
    sleeper.start()
    assert join_thread(sleeper, 0.1) is False
