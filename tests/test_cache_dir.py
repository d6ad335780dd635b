"""The cache directory each platform's users expect (checked here with each platform's rules)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from volley.cache_dir import cache_home

HOME = Path("/home/u")


def test_each_platform_has_its_own_place_and_the_user_may_choose() -> None:
    assert cache_home("linux", {}, HOME) == HOME / ".cache" / "volley"
    assert cache_home("darwin", {}, HOME) == HOME / "Library" / "Caches" / "volley"
    assert cache_home("win32", {"LOCALAPPDATA": "/appdata/local"}, HOME) == Path("/appdata/local/volley/Cache")
    assert cache_home("win32", {}, HOME) == HOME / "AppData" / "Local" / "volley" / "Cache"
    for platform in ("linux", "darwin", "win32"):
        assert cache_home(platform, {"XDG_CACHE_HOME": "/x"}, HOME) == Path("/x/volley")
        chosen = cache_home(platform, {"VOLLEY_CACHE_DIR": "/v", "XDG_CACHE_HOME": "/x"}, HOME)
        assert PurePosixPath(chosen) == PurePosixPath("/v")
