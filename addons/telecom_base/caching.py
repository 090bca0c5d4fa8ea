"""Caches compiled from records, cleared when those records change."""


def clears_caches(*caches):
    """Return a mixin for the models ``caches`` are compiled from: creating,
    writing or deleting their records clears the caches, in every process
    through Tryton's cache invalidation, so what was compiled from them is
    rebuilt on its next use."""

    class ClearsCaches:
        __slots__ = ()

        @classmethod
        def on_modification(cls, mode, records, field_names=None):
            super().on_modification(mode, records, field_names=field_names)
            for cache in caches:
                cache.clear()

        @classmethod
        def on_delete(cls, records):
            callback = super().on_delete(records)
            for cache in caches:
                cache.clear()
            return callback

    return ClearsCaches
