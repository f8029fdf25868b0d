"""Music induction: the centre's library, tempo you can trust, iso-principle playlists.

Rooms below it: :mod:`addictidx.sessions` (the live session it plays into), :mod:`addictidx.store`
(the library is a table of the store's database), :mod:`addictidx.prescribe` (the tempo loop's
step rule). Heavy libraries (librosa, soundfile, mutagen, pyloudnorm) are imported inside the
functions that need them. See ``docs/music.md``.
"""

__all__: list[str] = []
