"""What readers skip is gathered per command, or per dashboard request (one thread each)."""

import threading

from kleio.core.model.unreadable import noting_unreadable, skip_unreadable

TRIAL = "0123456789abcdef0123456789abcdef"


def test_a_command_says_once_what_its_readers_skipped_counting_each_event_once():
    said = []
    with noting_unreadable(said.append) as found:
        skip_unreadable(TRIAL, "stdout data is an integer, not an object", identity=(TRIAL, 1))
        skip_unreadable(TRIAL, "stdout data is an integer, not an object", identity=(TRIAL, 1))
        with noting_unreadable(said.append) as inner:  # nested: the outer one gathers
            skip_unreadable(TRIAL, "note data is a list, not an object", identity=(TRIAL, 2))
        assert inner is found
        assert said == []
    assert said == [
        "skipped 2 events of trial 0123456 that cannot be read (another program wrote them:"
        " stdout data is an integer, not an object; note data is a list, not an object)"
    ]


def test_nothing_skipped_says_nothing_and_outside_a_command_it_is_said_at_once(capsys):
    said = []
    with noting_unreadable(said.append):
        pass
    assert said == []
    skip_unreadable(TRIAL, "a blob's metadata is text", blob=True)
    assert capsys.readouterr().err == (
        "kleio: skipped 1 artifact of trial 0123456 that cannot be read (another program"
        " wrote them: a blob's metadata is text)\n"
    )


def test_requests_served_in_threads_each_say_only_what_their_own_readers_skipped():
    """The dashboard serves each request in a thread, inside the command's own gathering:
    a request neither sees the command's nor another request's."""
    entered, done = threading.Barrier(2), threading.Barrier(2)
    found = {}

    def request(name: str) -> None:
        with noting_unreadable() as mine:
            entered.wait(timeout=10)  # both requests gather at once
            skip_unreadable(TRIAL, f"{name} data is text, not an object")
            done.wait(timeout=10)
        found[name] = mine

    with noting_unreadable() as command:
        threads = [threading.Thread(target=request, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert not command
    assert list(found["a"].problems) == ["a data is text, not an object"]
    assert list(found["b"].problems) == ["b data is text, not an object"]
