"""The store's tables (SQLAlchemy Core), one group per schema version.

Every migration step ``i -> i + 1`` creates tables, never edits one in place, so the table objects
below are at the same time the current schema and the DDL of the step that introduced them
(:mod:`addictidx.store.migrations` runs the steps).

Privacy: no table has a column for a name, a birth date, a phone or ID number, or free text about
a person. Subjects are pseudonymous codes; JSON columns hold numbers, flags and machine names.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)

__all__ = ["METADATA", "MIGRATIONS", "SCHEMA_VERSION", "TABLES_BY_VERSION"]

METADATA = MetaData()

# -- version 1 ---------------------------------------------------------------------------------
subjects = Table(
    "subjects",
    METADATA,
    Column("code", Text, primary_key=True),
    Column("created_utc", Text, nullable=False),
)
sessions = Table(
    "sessions",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject_code", Text, ForeignKey("subjects.code"), nullable=False),
    Column("started_utc", Text, nullable=False),
    Column("ended_utc", Text),
    Column("status", Text, nullable=False),
    Column("simulated", Integer, nullable=False),
    Column("devices_json", Text, nullable=False),
    Column("software", Text, nullable=False),
    CheckConstraint("status IN ('running', 'complete', 'aborted')", name="sessions_status"),
    sqlite_autoincrement=True,
)
phases = Table(
    "phases",
    METADATA,
    Column("session_id", Integer, ForeignKey("sessions.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("t_start_s", Float, nullable=False),
    Column("t_end_s", Float),
)
feature_windows = Table(
    "feature_windows",
    METADATA,
    Column("session_id", Integer, ForeignKey("sessions.id"), nullable=False),
    Column("phase", Text, nullable=False),
    Column("t_end_s", Float, nullable=False),
    Column("values_json", Text, nullable=False),
    Column("usable", Integer, nullable=False),
    Column("flags_json", Text, nullable=False),
)
session_features = Table(
    "session_features",
    METADATA,
    Column(
        "session_id", Integer, ForeignKey("sessions.id"), primary_key=True, autoincrement=False
    ),
    Column("values_json", Text, nullable=False),
    Column("usable", Integer, nullable=False),
    Column("quality_json", Text, nullable=False),
)
index_results = Table(
    "index_results",
    METADATA,
    Column(
        "session_id", Integer, ForeignKey("sessions.id"), primary_key=True, autoincrement=False
    ),
    Column("idx", Float),
    Column("band", Text),
    Column("z", Float),
    Column("confidence", Float, nullable=False),
    Column("baseline", Text, nullable=False),
    Column("model_id", Text, nullable=False),
    Column("model_version", Text, nullable=False),
    Column("result_json", Text, nullable=False),
)
prescriptions = Table(
    "prescriptions",
    METADATA,
    Column(
        "session_id", Integer, ForeignKey("sessions.id"), primary_key=True, autoincrement=False
    ),
    Column("rule_id", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("activity", Text, nullable=False),
    Column("json", Text, nullable=False),
)
events = Table(
    "events",
    METADATA,
    Column("session_id", Integer, ForeignKey("sessions.id"), nullable=False),
    Column("t_s", Float, nullable=False),
    Column("kind", Text, nullable=False),
    Column("detail_json", Text, nullable=False),
)
_V1_INDEXES = (
    Index("idx_sessions_subject", sessions.c.subject_code),
    Index("idx_fw_session", feature_windows.c.session_id),
    Index("idx_events_session", events.c.session_id),
)

# -- version 2 ---------------------------------------------------------------------------------
consents = Table(
    "consents",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject_code", Text, ForeignKey("subjects.code"), nullable=False),
    Column("recorded_utc", Text, nullable=False),
    Column("scope", Text, nullable=False),  # machine name, e.g. "assessment", "research"
    Column("status", Text, nullable=False),
    Column("document_version", Text, nullable=False),
    CheckConstraint("status IN ('given', 'withdrawn')", name="consents_status"),
    sqlite_autoincrement=True,
)
safety_events = Table(
    "safety_events",
    METADATA,
    Column("session_id", Integer, ForeignKey("sessions.id"), nullable=False),
    Column("t_s", Float, nullable=False),
    Column("kind", Text, nullable=False),
    Column("detail_json", Text, nullable=False),
)
recordings = Table(
    "recordings",
    METADATA,
    Column(
        "session_id", Integer, ForeignKey("sessions.id"), primary_key=True, autoincrement=False
    ),
    Column("raw_dir", Text, nullable=False),  # relative to the store directory
    Column("protocol", Text, nullable=False),
    Column("meta_json", Text, nullable=False),
)
_V2_INDEXES = (
    Index("idx_consents_subject", consents.c.subject_code),
    Index("idx_safety_session", safety_events.c.session_id),
)

# -- version 3 ---------------------------------------------------------------------------------
consent_terms = Table(
    "consent_terms",
    METADATA,
    Column(
        "consent_id", Integer, ForeignKey("consents.id"), primary_key=True, autoincrement=False
    ),
    Column("signed_on", Text, nullable=False),  # ISO date the consent form was signed/withdrawn
    Column("expires_on", Text),  # ISO date after which the consent no longer holds (None: never)
)
subject_salts = Table(
    "subject_salts",
    METADATA,
    # Random per-subject salt of the keyed subject hashes (audit log, research export); erased
    # with the subject, after which those hashes can no longer be linked to the code.
    Column("subject_code", Text, ForeignKey("subjects.code"), primary_key=True),
    Column("salt", Text, nullable=False),
)

# -- version 4 ---------------------------------------------------------------------------------
# From version 4 on, ``subjects.code`` and every ``subject_code`` column hold the subject id
# ``k:<hex>`` (the id of the subject's data key, :mod:`addictidx.store.subject_keys`), never the
# pseudonymous code itself: the code lives only in the subject's key file, so erasing that file
# leaves no code in database pages, WAL segments or backups.
store_keys = Table(
    "store_keys",
    METADATA,
    # Ids (hex) of the keys this store was created with: "data" (current site data key),
    # "hash" (subject-hash key), "audit" (audit HMAC key), and "store" (random store id).
    Column("purpose", Text, primary_key=True),
    Column("key_id", Text, nullable=False),
)
audit_head = Table(
    "audit_head",
    METADATA,
    # The last signed head of audit.jsonl (one row), so restoring older copies of the log and
    # its head file together is detected.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("mac", Text, nullable=False),
    Column("signature", Text, nullable=False),
)
subject_files = Table(
    "subject_files",
    METADATA,
    # Reports and exports the tool wrote for a subject, outside the store; the path is sealed
    # with the subject's key (it may contain the code) and the file is removed on erasure.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject_code", Text, ForeignKey("subjects.code"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("path_sealed", Text, nullable=False),
    Column("created_utc", Text, nullable=False),
    sqlite_autoincrement=True,
)

#: Tables and indexes each migration step creates (step ``i`` migrates version i -> i + 1).
TABLES_BY_VERSION: tuple[tuple[tuple[Table, ...], tuple[Index, ...]], ...] = (
    (
        (
            subjects,
            sessions,
            phases,
            feature_windows,
            session_features,
            index_results,
            prescriptions,
            events,
        ),
        _V1_INDEXES,
    ),
    ((consents, safety_events, recordings), _V2_INDEXES),
    ((consent_terms, subject_salts), ()),
    ((store_keys, audit_head, subject_files), ()),
)
MIGRATIONS = TABLES_BY_VERSION
SCHEMA_VERSION = len(TABLES_BY_VERSION)
