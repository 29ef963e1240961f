"""The persistent cache: across processes, location, keys."""

import subprocess
import sys
import textwrap

from nlmodels.llm import cache_key, default_cache_dir, get_cache


def test_cache_dir_from_environment(fresh_cache):
    assert default_cache_dir() == fresh_cache
    get_cache().set("k", {"v": 1})
    assert (fresh_cache / "cache.db").exists()


def test_cache_key_is_order_independent_and_content_sensitive():
    assert cache_key(a=1, b=[1, 2]) == cache_key(b=[1, 2], a=1)
    assert cache_key(a=1, b=[1, 2]) != cache_key(a=1, b=[2, 1])


def test_several_processes_write_one_cache(fresh_cache):
    script = textwrap.dedent(
        """
        import sys
        from nlmodels.llm import get_cache
        cache = get_cache()
        for i in range(200):
            cache.set(f"{sys.argv[1]}-{i}", {"i": i})
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(p)]) for p in range(3)]
    assert [p.wait() for p in procs] == [0, 0, 0]
    cache = get_cache()
    assert len(cache) == 600 and cache.get("2-199") == {"i": 199}


def test_add_many_keeps_the_first_value_and_returns_what_is_stored(fresh_cache):
    cache = get_cache()
    assert cache.add_many({"a": b"first", "b": b"only"}) == {"a": b"first", "b": b"only"}
    assert cache.add_many({"a": b"second", "c": b"new"}) == {"a": b"first", "c": b"new"}
    assert cache.get("a") == b"first" and cache.get("c") == b"new"
