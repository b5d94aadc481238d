"""The paragraphs table searched or browsed by topic: the same SQL, answered by quicker plans.

This plugin also defines the table's `_topic=SLUG` filter, where the topics
facet links. A table search (`/archive/paragraphs.json?_search=russia`, its CSV,
its pages) and a topic's paragraphs (`?_topic=energy`) each run two queries that
Datasette writes around a set of paragraphs:

    select … from paragraphs where rowid in (select rowid from paragraphs_fts
        where paragraphs_fts match escape_fts(:search)) order by id limit 101
    select count(*) from paragraphs where rowid in (…the same…)

(for a topic, `id IN (SELECT paragraph_id FROM paragraph_topics WHERE topic = …)`,
or Datasette's own `topics__arraycontains=SLUG`, which reads each paragraph's array).
SQLite answers both by looking up every member of the set in the paragraphs
table, and the first sorts them all for one page: at a million paragraphs, a
word in half of them took 0.3 s for each query. For an archive served immutable
the same queries get the same answers from plans that touch fewer rows:

- the count is the set's own count, from the full-text index or from
  paragraph_topics' index: each member is one paragraph, as the full-text index
  is built from the table (`content="paragraphs"`), paragraph_topics holds a
  paragraph and topic once (its primary key) for paragraphs of the archive, and
  the file never changes; counted once for the page and the count, and kept;
- the page comes from whichever of three plans costs least for the share of
  paragraphs in the set: Datasette's own (sort the members: best for a few),
  walking the id index in order keeping the rows in the list of members (many),
  or walking it asking of each row whether it is a member (most; never for a
  prefix query, where each question costs the index milliseconds).

Any other query — other filters, another sort, a mutable database — runs as
Datasette wrote it.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Callable, NamedTuple

from datasette import hookimpl
from datasette.filters import FilterArguments

# Rough costs in microseconds, measured at a million paragraphs (bench/README.md, "Table plans"):
# a member looked up and sorted; a member listed, an id index entry walked past.
SORT_PER_MEMBER = 0.7
LIST_PER_MEMBER, WALK_PER_ENTRY = 0.2, 0.1
KEPT_COUNTS = 256


def search_ask_cost(params: dict) -> float | None:
    """Microseconds to ask the full-text index whether one row matches: a lookup a word, and for a
    prefix query a merge of every word it stands for (milliseconds: never worth it)."""
    query = params.get("search", "")
    return None if "*" in query else 8.0 + 8.0 * max(1, len(re.findall(r"\w+", query)))


class ParagraphSet(NamedTuple):
    """A set of paragraphs that Datasette's SQL selects by, and other ways to ask about it."""

    member: str  # Datasette's where clause, with {arg} for the SQL naming the set
    arg: str  # the pattern {arg} takes in Datasette's SQL
    count: str  # SQL counting the members of {arg}
    ask: str  # SQL condition: is this paragraphs row a member of {arg}?
    usable: tuple[str, str]  # SQL and a pattern its first value matches when the shortcuts hold here
    ask_cost: Callable[[dict], float | None]  # microseconds to ask about one row, given the params
    other_forms: tuple[tuple[str, str], ...] = ()  # other where clauses for the same set: (member, arg)

    def clauses(self) -> list[str]:
        """Patterns of every where clause that selects this set, naming it in group "arg"."""
        return [re.escape(member).replace(re.escape("{arg}"), f"(?P<arg>{arg})")
                for member, arg in [(self.member, self.arg), *self.other_forms]]


SEARCH = ParagraphSet(
    member="rowid in (select rowid from paragraphs_fts where paragraphs_fts match {arg})",
    arg=r"escape_fts\(:search\)|:search",
    count="select count(*) from paragraphs_fts where paragraphs_fts match {arg}",
    ask="exists (select 1 from paragraphs_fts where paragraphs_fts match {arg} and paragraphs_fts.rowid = paragraphs.rowid)",
    # The index must be the table's own: external content, built from the paragraphs.
    usable=("select sql from sqlite_master where name = 'paragraphs_fts'", r"""(?is).*\bcontent\s*=\s*["'\[]?paragraphs["'\]]?\b.*"""),
    ask_cost=search_ask_cost,
)
TOPIC = ParagraphSet(
    member="id IN (SELECT paragraph_id FROM paragraph_topics WHERE topic = {arg})",
    arg=r":_topic_\d+",
    count="select count(*) from paragraph_topics where topic = {arg}",
    ask="exists (select 1 from paragraph_topics where paragraph_id = paragraphs.id and topic = {arg})",
    # A paragraph holds a topic once: the pair is the table's primary key.
    usable=("""select origin from pragma_index_list('paragraph_topics') where origin = 'pk' and "unique" = 1""", "pk"),
    ask_cost=lambda params: 1.0,  # one look in the primary key's index
    # Datasette's own topics__arraycontains=SLUG selects the same paragraphs: the build writes a
    # paragraph's topics array and its paragraph_topics rows from the same tags.
    other_forms=(("""{arg} in (select value from json_each("paragraphs"."topics"))""", r":p\d+"),),
)
SETS = (SEARCH, TOPIC)
COUNT_SQL = [(kind, re.compile(rf"select count\(\*\) from paragraphs where {clause}\s*"))
             for kind in SETS for clause in kind.clauses()]
PAGE_SQL = [(kind, re.compile(rf"select (?P<columns>.+?) from paragraphs where {clause} "
                              r"(?:and (?P<after>\(id > :p\d+\)) )?order by id limit (?P<limit>\d+)\s*", re.S))
            for kind in SETS for clause in kind.clauses()]


def choose_plan(members: int, paragraphs: int, limit: int, ask_cost: float | None) -> str:
    """The cheapest plan for a page of `limit` rows in id order out of `members` of `paragraphs`:
    "sort", "list" or "ask"."""
    if members == 0:
        return "sort"
    walked = min(paragraphs, limit * paragraphs / members)  # id index entries passed before the page is full
    costs = {"sort": SORT_PER_MEMBER * members, "list": LIST_PER_MEMBER * members + WALK_PER_ENTRY * walked}
    if ask_cost is not None:
        costs["ask"] = ask_cost * walked
    return min(costs, key=costs.get)


def page_sql(plan: str, kind: ParagraphSet, columns: str, arg: str, after: str | None, limit: int, id_index: str) -> str:
    """A page of a set's members in id order, as Datasette's own query finds it, by the given plan."""
    condition = (kind.ask if plan == "ask" else kind.member).format(arg=arg)
    where = " and ".join([condition, *([after] if after else [])])
    walk = f" indexed by {id_index}" if plan in ("list", "ask") else ""
    return f"select {columns} from paragraphs{walk} where {where} order by id limit {limit}"


class Planner:
    """Rewrites one immutable archive's set queries (searches, topics) to their quicker plans."""

    def __init__(self, db):
        self.execute = db.execute  # Datasette's own, which runs what it is given
        self.shape: tuple[int, str, set] | None = None  # (paragraphs, id index, usable sets), read once
        self.counts: OrderedDict[tuple, int] = OrderedDict()

    async def planned_execute(self, sql, params=None, *args, **kwargs):
        """Database.execute, running a set's count or page by its quicker plan."""
        if isinstance(sql, str) and isinstance(params, dict) and sql.startswith("select") and " from paragraphs where " in sql:
            sql = await self.rewrite(sql, params) or sql
        return await self.execute(sql, params, *args, **kwargs)

    async def rewrite(self, sql: str, params: dict) -> str | None:
        """The quicker SQL for a set's count or page, or None for any other query."""
        for kind, pattern in COUNT_SQL:
            if (count := pattern.fullmatch(sql)) and kind in (await self.read_shape())[2]:
                # The page, which Datasette asks for first, has counted the set already.
                return f"select {int(await self.members(kind, count['arg'], params))}"
        for kind, pattern in PAGE_SQL:
            if (page := pattern.fullmatch(sql)) and kind in (await self.read_shape())[2]:
                paragraphs, id_index, _ = self.shape
                members = await self.members(kind, page["arg"], params)
                limit = int(page["limit"])
                plan = choose_plan(members, paragraphs, limit, kind.ask_cost(params))
                return page_sql(plan, kind, page["columns"], page["arg"], page["after"], limit, id_index)
        return None

    async def read_shape(self) -> tuple[int, str, set]:
        """How many paragraphs, the id index's name, and the sets whose shortcuts hold (read once)."""
        if self.shape is None:
            indexes = await self.execute("select name from pragma_index_list('paragraphs') where origin = 'pk'")
            id_index = next((row[0] for row in indexes), None)
            usable = set()
            if id_index:
                for kind in SETS:
                    sql, pattern = kind.usable
                    found = (await self.execute(sql)).first()
                    if found and re.fullmatch(pattern, str(found[0])):
                        usable.add(kind)
            paragraphs = (await self.execute("select max(rowid) from paragraphs")).first()[0] or 0
            self.shape = (paragraphs, id_index, usable)
        return self.shape

    async def members(self, kind: ParagraphSet, arg: str, params: dict) -> int:
        """How many paragraphs are in the set, counted by its index once."""
        names = re.findall(r":(\w+)", arg)
        values = {name: params.get(name) for name in names}
        key = (kind.count, arg, tuple(sorted(values.items())))
        if key not in self.counts:
            self.counts[key] = (await self.execute(kind.count.format(arg=arg), values)).first()[0]
            if len(self.counts) > KEPT_COUNTS:
                self.counts.popitem(last=False)
        self.counts.move_to_end(key)
        return self.counts[key]


@hookimpl
def filters_from_request(request, database, table, datasette):
    """`_topic=SLUG` on the paragraphs table: the paragraphs tagged with that topic, found through
    paragraph_topics' index, where the topics facet links. (Datasette's `topics__arraycontains=SLUG`
    reads every paragraph's JSON array, unless planned as this filter is: served immutable.)"""
    if table != "paragraphs" or "_topic" not in request.args:
        return None
    wheres, params, descriptions = [], {}, []
    for number, slug in enumerate(request.args.getlist("_topic")):
        wheres.append(TOPIC.member.format(arg=f":_topic_{number}"))
        params[f"_topic_{number}"] = slug
        descriptions.append(f'topic is "{slug}"')
    return FilterArguments(wheres, params, descriptions)


@hookimpl
def startup(datasette):
    for db in datasette.databases.values():
        # Only an immutable file: the shortcuts hold while the indexes and the table never change.
        if db.path and not db.is_mutable and not hasattr(db, "table_planner"):
            db.table_planner = Planner(db)
            db.execute = db.table_planner.planned_execute
