"""Keeping ``project_search`` current: one row per project with a release, rebuilt by SQL.

The index is kept current in the same transaction as the change that affects it.
:mod:`warehouse.effects` notes which projects a transaction touched (rows of projects and
releases flushed, and journal entries written — every change to the index writes one) and,
just before the commit, right after the journal's entries are written,
:func:`reindex_before_commit` rewrites those projects' rows with one
``INSERT … SELECT … ON CONFLICT`` statement. So a rolled-back upload leaves the index as it
was, and a committed one is searchable at once.

The rewrite runs under the journal's advisory lock, which writing the entries has already
taken: two uploads to the same project therefore rewrite its row one after the other, each
seeing the other's committed release.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.packaging import journal
from warehouse.packaging.models import Project, Release

# How much of a description is indexed: enough to find a project by what its README says
# first, small enough that ranking thousands of matches stays fast.
DESCRIPTION_LIMIT = 2000
TEXT_SEARCH_CONFIG = "english"
# Prefix of the document terms that stand for classifiers (no parsed word contains a colon
# followed by a space, so they never meet a user's words).
CLASSIFIER_TERM = "classifier:"

# A release a scan holds is not shown to installers, so search neither shows its version nor
# finds a project by what only that release says (a held release's text is the scanned
# upload's own, possibly written to lure).
_HELD = "EXISTS (SELECT 1 FROM release_holds h WHERE h.release_id = {release} AND h.lifted IS NULL)"

# The row a project's entry is rebuilt from. ``{where}`` filters projects (aliased ``p``).
# The shown release: non-yanked before yanked, final before pre-release, then the newest.
# Classifier prefixes are computed from the classifiers already fetched, not by a second
# join: a full rebuild runs this once per project. The document also carries each prefix as
# a term of its own ("classifier:Framework :: Django"), so that a query and its classifier
# filters are answered by the one GIN index together.
_ENTRY_SELECT = f"""
SELECT
    p.id,
    p.name,
    p.normalized_name,
    r.version,
    r.summary,
    r.keywords,
    left(r.description, {DESCRIPTION_LIMIT}),
    coalesce(c.classifiers, '{{}}'),
    prefixes.list,
    r.created,
    head.vector,
    head.vector
    || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}',
        left(coalesce(r.description, ''), {DESCRIPTION_LIMIT})), 'D')
    || array_to_tsvector(ARRAY(SELECT '{CLASSIFIER_TERM}' || prefix FROM unnest(prefixes.list) prefix))
FROM projects p
CROSS JOIN LATERAL (
    SELECT id, version, summary, keywords, description, created FROM releases
    WHERE releases.project_id = p.id AND NOT ({_HELD.format(release="releases.id")})
    ORDER BY yanked, is_prerelease, sort_order DESC
    LIMIT 1
) r
CROSS JOIN LATERAL (
    SELECT setweight(to_tsvector('{TEXT_SEARCH_CONFIG}',
        p.name || ' ' || translate(p.name, '-_.', '   ')), 'A')
    || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', coalesce(r.summary, '')), 'B')
    || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', coalesce(r.keywords, '')), 'C') AS vector
) head
CROSS JOIN LATERAL (
    SELECT array_agg(t.classifier ORDER BY t.classifier) AS classifiers
    FROM release_classifiers rc JOIN trove_classifiers t ON t.id = rc.trove_id
    WHERE rc.release_id = r.id
) c
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(DISTINCT array_to_string(parts[1:depth], ' :: ')), '{{}}') AS list
    FROM unnest(c.classifiers) AS classifier
    CROSS JOIN LATERAL string_to_array(classifier, ' :: ') AS parts
    CROSS JOIN LATERAL generate_series(1, cardinality(parts)) AS depth
) prefixes
WHERE ({{where}}) AND p.lifecycle_status IS NULL
"""

_COLUMNS = (
    "project_id, name, normalized_name, version, summary, keywords, description, "
    "classifiers, classifier_prefixes, created, head, document"
)
_UPDATES = ", ".join(
    f"{column} = EXCLUDED.{column}" for column in _COLUMNS.split(", ") if column != "project_id"
)


def _upsert_sql(where: str) -> sa.TextClause:
    return sa.text(
        f"INSERT INTO project_search ({_COLUMNS})"
        f"{_ENTRY_SELECT.replace('{where}', where)}"
        f"ON CONFLICT (project_id) DO UPDATE SET {_UPDATES}"
    )


_UPSERT_ALL = _upsert_sql("true")
# Projects whose last release was deleted (or is held) leave search (deleted projects go by
# cascade), and so do quarantined ones.
_DELETE_RELEASELESS = f"""
DELETE FROM project_search s
WHERE {{where}} AND (
    NOT EXISTS (
        SELECT 1 FROM releases r
        WHERE r.project_id = s.project_id AND NOT ({_HELD.format(release="r.id")})
    )
    OR EXISTS (
        SELECT 1 FROM projects q WHERE q.id = s.project_id AND q.lifecycle_status IS NOT NULL
    )
)
"""
_DELETE_ALL = sa.text(_DELETE_RELEASELESS.format(where="true"))
# Both at once for the projects named by id or by normalized name: the two touch disjoint
# rows (with and without releases), so one statement with one snapshot does for both.
_CHOSEN = "(p.id = ANY(CAST(:ids AS integer[])) OR p.normalized_name = ANY(CAST(:names AS text[])))"
_REINDEX_SOME = sa.text(
    "WITH dropped AS ("
    + _DELETE_RELEASELESS.format(
        where="s.project_id IN (SELECT p.id FROM projects p WHERE " + _CHOSEN + ")"
    )
    + ") "
    + _upsert_sql(_CHOSEN).text
)


def reindex_projects(session: orm.Session, project_ids, normalized_names=()) -> None:
    """Rewrite the entries of these projects (by id or normalized name) from their rows."""
    ids = sorted({int(i) for i in project_ids})
    names = sorted(set(normalized_names))
    if not (ids or names):
        return
    session.flush()
    # Serialize with other writers, so that this statement's snapshot includes every
    # change committed before ours (see the module docstring).
    journal.lock(session)
    session.execute(_REINDEX_SOME, {"ids": ids, "names": names})


def reindex_project_in_session(session: orm.Session, project: Project | int) -> None:
    """Bring one project's entry up to date now, inside the session's transaction.

    Not needed after changes made through the ORM or with a journal entry (the commit
    reactions see those); for code that changes search-relevant columns with bare SQL.
    """
    reindex_projects(session, [project if isinstance(project, int) else project.id])


def rebuild_all(session: orm.Session) -> None:
    """Rewrite every entry (``warehouse search reindex``); the caller commits."""
    session.flush()
    journal.lock(session)
    session.execute(_DELETE_ALL)
    session.execute(_UPSERT_ALL)


# What a transaction changed (fed by warehouse.effects) --------------------------------------

_CHANGED_IDS = "warehouse.search.changed_project_ids"


def mark_project_changed(session: orm.Session, project: Project | int) -> None:
    """Have the project reindexed when the session commits (for bare-SQL changes)."""
    project_id = project if isinstance(project, int) else project.id
    session.info.setdefault(_CHANGED_IDS, set()).add(project_id)


def note_flushed_projects(session: orm.Session) -> None:
    """After a flush: the projects whose rows, or whose releases' rows, it wrote."""
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Project):
            if obj.id is not None:
                mark_project_changed(session, obj.id)
        elif isinstance(obj, Release):
            if obj.project_id is not None:
                mark_project_changed(session, obj.project_id)


def reindex_before_commit(session: orm.Session, journaled_names: frozenset[str]) -> None:
    """Rewrite the entries of every project the transaction changed, as it commits.

    Journal entries name projects too: changes made with bare SQL write one.
    """
    ids = session.info.pop(_CHANGED_IDS, set())
    if ids or journaled_names:
        reindex_projects(session, ids, journaled_names)
    # Our own statements flushed nothing new; forget what they may have noted.
    session.info.pop(_CHANGED_IDS, None)


def forget_changed(session: orm.Session) -> None:
    session.info.pop(_CHANGED_IDS, None)
