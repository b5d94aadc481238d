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
  prefix query, where each question costs the index milliseconds);
- a set of up to ORDERED_MAX members that is being paged through (a `_next`
  page, or a page of a thousand rows or more, as a streamed CSV export asks
  for) is put in id order once and kept, when that costs less than the pages
  to come would (the whole stream's, or else the next two): each of its pages
  is then the next members' rows, read by rowid (a CSV of 10,000 results at a
  million paragraphs: its ten pages' SQL ~220 → ~75 ms);
- a search whose words the archive keeps (ingest/samples.py: each in 100,000
  paragraphs or more) is counted from the kept words' bits and each page is the
  first members in id order after its start, read by rowid: the search plugin
  offers them (`db.kept_members`), as it holds every paragraph's rowid in id
  order (a word in half of a million paragraphs: ~20 ms of SQL for a page and
  its count → ~3 ms).

The same holds with filters on indexed columns besides the set (`outlet=…`,
`meeting_year=…`, as Datasette writes them) and on every page after the first
(`_next`): the rows of one value are walked in id order through the column's
(column, id) index, and the count walks that index keeping the listed members
when that reads less than looking up every member.

- a search with a topic (where the topics facet of a searched table links), with
  facet values (`outlet=…`, `meeting_city=…`), or topics together are counted and
  paged from memory when the archive keeps its words: the search's kept words, or
  its matches walked once, and every paragraph's facet keys, which the search
  plugin holds (`db.table_members`); Datasette's SQL looked up every match and
  listed every paragraph of the topic (a word in half of a million paragraphs
  with a topic: ~0.6 s for a page and its count; in two topics, ~5 s).

A page sorted by another column (`_sort=meeting_year`, `_sort_desc=rewrite_score`:
the column headings' menus; its ties in id order on every page, as
plugins/paging.py orders them) is answered the same way: browsed, searched or
narrowed by facet values, it is the first of its members (from memory, as above;
a search walked once if need be) in every paragraph's order in that sort (read
once a sort by each server process, in a thread, 4 bytes a paragraph; the SQL
runs until it is read), read by rowid: Datasette's SQL looked up and sorted every
member (~0.3-0.5 s at a million paragraphs for a word in half of them).

Any other query — other kinds of filter, two searches, a mutable database — runs
as Datasette wrote it.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Callable, NamedTuple

import numpy as np
from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.filters import FilterArguments

from ingest import samples
from ingest.load import named_values

# Rough costs in microseconds, measured at a million paragraphs (bench/README.md, "Table plans"):
# a member looked up and sorted; a member listed, an index entry walked past.
SORT_PER_MEMBER = 0.7
LIST_PER_MEMBER, WALK_PER_ENTRY = 0.2, 0.1
ROW_PER_ENTRY = 1.0  # an index entry whose row must be read (to check a second column filter)
KEPT_COUNTS = 256
# Sets kept in id order: at most this many members each, and this many in all (~30 bytes a member).
ORDERED_MAX, KEPT_ORDERED_MEMBERS = 250_000, 1_000_000
# A page this large is one of a stream that will read the whole set (Datasette's CSV asks for
# max_returned_rows + 1 a page); of smaller pages, a reader paging on is expected to read two more.
STREAMED_PAGE = 1000
PAGES_AHEAD = 2


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
    sort_cost: float  # microseconds to look one member up in the table (Datasette's own plan)
    list_cost: float  # microseconds to list one member (SQLite's temporary index of the set)
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
    sort_cost=SORT_PER_MEMBER, list_cost=LIST_PER_MEMBER,  # rowids from the full-text index
)
TOPIC = ParagraphSet(
    member="id IN (SELECT paragraph_id FROM paragraph_topics WHERE topic = {arg})",
    arg=r":_topic_\d+",
    count="select count(*) from paragraph_topics where topic = {arg}",
    ask="exists (select 1 from paragraph_topics where paragraph_id = paragraphs.id and topic = {arg})",
    # A paragraph holds a topic once: the pair is the table's primary key.
    usable=("""select origin from pragma_index_list('paragraph_topics') where origin = 'pk' and "unique" = 1""", "pk"),
    ask_cost=lambda params: 1.0,  # one look in the primary key's index
    # Text ids from paragraph_topics, measured at 1M counting topics within one outlet: each member
    # looked up 1.2-1.5 us (338,478 of them: 505 ms), listed 0.8-1.4 us (451 ms); asked of the
    # outlet's 125,949 rows instead, 171 ms.
    sort_cost=1.4, list_cost=1.2,
    # Datasette's own topics__arraycontains=SLUG selects the same paragraphs: the build writes a
    # paragraph's topics array and its paragraph_topics rows from the same tags.
    other_forms=(("""{arg} in (select value from json_each("paragraphs"."topics"))""", r":p\d+"),),
)
SETS = (SEARCH, TOPIC)
SET_CLAUSES = [(kind, re.compile(clause)) for kind in SETS for clause in kind.clauses()]
# A filter on one value of a column, as Datasette writes `column=value` or `column__exact=value`.
EQUALS = re.compile(r'"(?P<column>\w+)" = (?P<param>:p\d+)')
# A table page's columns as Datasette lists them: names and nothing else (a reader's query that
# selects anything else — from a subquery, `distinct`, an expression — is not a table page, and
# runs as written).
PAGE_COLUMNS = r'(?:\w+|\[[^\]]+\])(?:, (?:\w+|\[[^\]]+\]))*'

# A page sorted by another column, as Datasette writes `_sort=column` or `_sort_desc=column`: the
# first page ordered by the column alone, each next one by the column and id, after the last
# row's value and id (the last condition of its where clause: see plugins/paging.py).
SORTED_PAGE_SQL = re.compile(rf"select (?P<columns>{PAGE_COLUMNS}) from paragraphs(?: where (?P<where>.+?))? "
                             r"order by (?P<column>\w+)(?P<desc> desc)?(?P<tied>, id)? limit (?P<limit>\d+)\s*", re.S)
PAGE_SQL = re.compile(rf"select (?P<columns>{PAGE_COLUMNS}) from paragraphs where (?P<where>.+) order by id limit (?P<limit>\d+)\s*", re.S)
COUNT_SQL = re.compile(r"select count\(\*\) from paragraphs where (?P<where>.+?)\s*", re.S)


class Where(NamedTuple):
    """A where clause of the shape planned: a set (a search or a topic), filters on column values,
    maybe a page's start; maybe more sets (topics, or a search and topics)."""

    atoms: list[str]  # its conditions, as Datasette wrote them, in order
    set_at: int  # which condition is the set (the search, if there is one)
    kind: ParagraphSet | None  # None for a clause of column filters alone (planned when sorted)
    arg: str
    equals: list[tuple[str, str]]  # (column, param) of each column filter
    after: str | None = None  # the param of the page's start (the last id of the page before)
    more_sets: tuple[tuple[int, ParagraphSet, str], ...] = ()  # (condition, kind, arg) of each other set

    def sets(self) -> list[tuple[int, ParagraphSet, str]]:
        """(condition, kind, arg) of every set of the clause, the first one's first."""
        return [(self.set_at, self.kind, self.arg), *self.more_sets] if self.kind else []


def parse_where(where: str, start=None, need_set: bool = True) -> Where | None:
    """The where clause as sets (at most one search) and column filters, and its page's start (a
    PageStart of plugins/paging.py, split off the clause) after an id; None for any other clause
    or start, or (if `need_set`) one without a set.

    A clause is split at " and " only if every piece is a whole condition of these kinds, none
    of which holds an " or ": the pieces are then exactly the clause's top-level conjunction."""
    if start is not None and (start.column is not None or start.keys != ("id",)):
        return None  # a page sorted, or in the order of another key
    conditions = where.split(" and ") if where else []
    atoms, after = [*conditions, start.condition] if start else conditions, start.params[0] if start else None
    sets, equals = [], []
    for number, atom in enumerate(conditions):
        if found := EQUALS.fullmatch(atom):
            equals.append((found["column"], found["param"]))
            continue
        matched = next(((k, m) for k, pattern in SET_CLAUSES if (m := pattern.fullmatch(atom))), None)
        if matched is None:
            return None  # another kind of condition
        sets.append((number, matched[0], matched[1]["arg"]))
    if (need_set and not sets) or sum(kind is SEARCH for _, kind, _ in sets) > 1:
        return None  # no set, or two searches
    if not sets:
        return Where(atoms, -1, None, "", equals, after)
    sets.sort(key=lambda found: found[1] is not SEARCH)  # the search first
    (set_at, kind, arg), *more = sets
    return Where(atoms, set_at, kind, arg, equals, after, tuple(more))


def plan_costs(members: int, walkable: int, expected: float, limit: int, ask_cost: float | None,
               kind: ParagraphSet | None = None) -> dict[str, float]:
    """Microseconds for a page of `limit` rows in id order, of `expected` rows found among a set's
    `members` and the `walkable` entries of the index walked in id order, by each plan."""
    walked = min(walkable, limit * walkable / max(expected, 1))  # entries passed before the page is full
    sort_cost, list_cost = (kind.sort_cost, kind.list_cost) if kind else (SORT_PER_MEMBER, LIST_PER_MEMBER)
    costs = {"sort": sort_cost * members, "list": list_cost * members + WALK_PER_ENTRY * walked}
    if ask_cost is not None:
        costs["ask"] = ask_cost * walked
    return costs


def count_costs(where: Where, params: dict, members: int, walkable: int) -> dict[str, float]:
    """Microseconds to count a set's members that pass column filters, by each plan: Datasette's
    count looks up each member ("sort"); walking the filtered column's index (`walkable` entries)
    keeping the members listed reads the index alone (unless a second filter needs the row); and
    asking of each entry walked whether it is a member lists nothing (for a large set)."""
    per_entry = WALK_PER_ENTRY + (ROW_PER_ENTRY if len(where.equals) > 1 else 0)
    costs = {"sort": where.kind.sort_cost * members, "list": where.kind.list_cost * members + per_entry * walkable}
    if (ask_cost := where.kind.ask_cost(params)) is not None:
        costs["ask"] = (ask_cost + per_entry) * walkable
    return costs


def count_sql(plan: str, where: Where, walk_index: str) -> str:
    """The count of Datasette's where clause by the given plan ("sort": as Datasette wrote it; the
    set as its member clause, for topics__arraycontains paragraph_topics, not JSON)."""
    walk = f" indexed by {walk_index}" if plan != "sort" else ""
    return f"select count(*) from paragraphs{walk} where {planned_where('ask' if plan == 'ask' else 'list', where)}"


def cheapest(costs: dict[str, float], members: int) -> str:
    """The plan of least cost ("sort" for an empty set, where every plan reads nothing)."""
    return min(costs, key=costs.get) if members else "sort"


def listing_costs(members: int, paragraphs: int) -> dict[str, float]:
    """What listing a whole set in id order costs by sorting its members or walking the id index:
    a page of every member, with no filter (no row asked about: asking never lists cheaper)."""
    return plan_costs(members, paragraphs, members, members, None)


def worth_ordering(members: int, paragraphs: int, limit: int, page_cost: float) -> bool:
    """Whether listing a set in id order once costs less than the pages still to come would by
    `page_cost` each."""
    pages_ahead = members / limit if limit >= STREAMED_PAGE else PAGES_AHEAD
    return min(listing_costs(members, paragraphs).values()) <= pages_ahead * page_cost


def planned_where(plan: str, where: Where) -> str:
    """The where clause with its set asked about row by row ("ask") or as Datasette wrote it."""
    condition = (where.kind.ask if plan == "ask" else where.kind.member).format(arg=where.arg)
    return " and ".join(condition if n == where.set_at else atom for n, atom in enumerate(where.atoms))


def page_sql(plan: str, where: Where, columns: str, limit: int, walk_index: str) -> str:
    """A page of rows in id order, as Datasette's own query finds it, by the given plan."""
    walk = f" indexed by {walk_index}" if plan in ("list", "ask") else ""
    return f"select {columns} from paragraphs{walk} where {planned_where(plan, where)} order by id limit {limit}"


ORDER_READERS: dict[tuple[str, bool], Callable] = {}


def order_reader(column: str, desc: bool) -> Callable:
    """The reader (for the search plugin's `db.read_once`) of every paragraph's rowid in the order
    of a table page sorted by `column`, ties in id order (one reader a sort: it is read once)."""
    if (column, desc) not in ORDER_READERS:
        def read_order(conn) -> np.ndarray:
            listed = conn.execute(f'SELECT group_concat(rowid) FROM (SELECT rowid FROM paragraphs '
                                  f'ORDER BY "{column}"{" DESC" if desc else ""}, id)').fetchone()[0]
            return samples.rowid_array(listed).astype(np.int32)
        read_order.__name__ = f"read_order_{column}{'_desc' if desc else ''}"
        ORDER_READERS[column, desc] = read_order
    return ORDER_READERS[column, desc]


class Ordered(NamedTuple):
    """A set's members in id order: their ids (UTF-8, as SQLite compares text) and rowids."""

    ids: np.ndarray
    rowids: np.ndarray

    def page_sql(self, where: Where, params: dict, columns: str, limit: int) -> str | None:
        """The page of a set with no column filter, as the rows of the next `limit` members after
        the page's start; None if the start is not an id."""
        start = 0
        if where.after:
            after = params.get(where.after)
            try:
                # (numpy cuts a longer start to the ids' width; ids equal to the cut start sort before the
                # start itself, so side="right" still finds the first id after it.)
                start = int(np.searchsorted(self.ids, after.encode(), side="right"))
            except (AttributeError, UnicodeEncodeError):  # not text, or not encodable: Datasette's SQL decides
                return None
        return listed_page_sql(where, self.rowids[start:start + limit], columns, limit)


def listed_page_sql(where: Where, rowids: np.ndarray, columns: str, limit: int) -> str:
    """A page of a set's members in id order, as the rows of the members listed: the sets'
    conditions are how the list was made, so its members by rowid stand for them (a topic's
    condition, kept, would have SQLite list every paragraph of the topic for each page)."""
    listed = ",".join(map(str, rowids.tolist()))
    if where.kind is None:  # filters alone, which the members pass (a reader's `_where` may hold an " or ")
        conditions = [f"rowid in ({listed})", *(f"({atom})" for atom in where.atoms)]
        return f"select {columns} from paragraphs where {' and '.join(conditions)} order by id limit {limit}"
    sets = {n for n, _, _ in where.sets()}
    atoms = [f"rowid in ({listed})" if n == where.set_at else atom
             for n, atom in enumerate(where.atoms) if n == where.set_at or n not in sets]
    return f"select {columns} from paragraphs where {' and '.join(atoms)} order by id limit {limit}"


class Planner:
    """Rewrites one immutable archive's set queries (searches, topics) to their quicker plans."""

    def __init__(self, db):
        self.db = db
        self.execute = db.execute  # Datasette's own, which runs what it is given
        self.shape: tuple[int, str, set, dict] | None = None  # read once: see read_shape
        self.counts: OrderedDict[tuple, int] = OrderedDict()
        self.orders: OrderedDict[tuple, Ordered] = OrderedDict()

    def split_page_start(self, where: str | None) -> tuple:
        """The where clause and its page's start, as plugins/paging.py reads Datasette's paging
        (without it, no start is read: a later page's SQL runs as written)."""
        return getattr(self.db, "split_page_start", lambda clause: (clause or "", None))(where)

    async def planned_execute(self, sql, params=None, *args, **kwargs):
        """Database.execute, running a set's count or page by its quicker plan."""
        if isinstance(sql, str) and isinstance(params, dict) and sql.startswith("select") and " from paragraphs " in sql:
            sql = await self.rewrite(sql, params) or sql
        return await self.execute(sql, params, *args, **kwargs)

    async def rewrite(self, sql: str, params: dict) -> str | None:
        """The quicker SQL for a set's count or page, or None for any other query."""
        page = PAGE_SQL.fullmatch(sql)
        if not page and (by_column := SORTED_PAGE_SQL.fullmatch(sql)) and by_column["column"] not in ("id", "rowid"):
            return await self.sorted_page_sql(by_column, params)
        count = None if page else COUNT_SQL.fullmatch(sql)
        if not (page or count):
            return None
        clause, start = self.split_page_start((page or count)["where"])
        where = parse_where(clause, start, need_set=False)
        paragraphs, id_index, usable, column_indexes = await self.read_shape()
        if where is not None and where.kind is None:  # column filters alone
            if len(where.equals) >= 2 and (sql := await self.members_sql(await self.members(where, params), where, params, page, count)):
                return sql  # two or more facet values: SQLite would walk one's index, reading each row for the others
            if len(where.equals) <= 1 and all(column in column_indexes for column, _ in where.equals):
                return None  # no filter, or one value: its index's walk in id order
        if where is None or where.kind is None:
            return await self.selected_sql(clause, start, params, page, count)
        if any(kind not in usable for _, kind, _ in where.sets()):
            return None
        if where.more_sets or where.equals:
            # Sets together, or a set with column filters: from memory if the archive allows.
            if sql := await self.members_sql(await self.members(where, params), where, params, page, count):
                return sql
            if where.more_sets:
                return await self.selected_sql(clause, start, params, page, count)
        if any(column not in column_indexes for column, _ in where.equals):
            return await self.selected_sql(clause, start, params, page, count)  # a column with no (column, id) index
        kept = await self.kept_members(where, params)
        members = kept.count() if kept else await self.count(where.kind.count.format(arg=where.arg), params)
        # Walk the index of the filtered column with the fewest rows (in id order within the value),
        # or with no filter the id index; expect the filters to keep as many members as rows.
        walkable, walk_index, expected = paragraphs, id_index, float(members)
        for column, param in where.equals:
            rows = await self.count(f'select count(*) from paragraphs where "{column}" = {param}', params)
            expected *= rows / max(paragraphs, 1)
            if rows < walkable:
                walkable, walk_index = rows, column_indexes[column]
        if count and not where.equals:
            # Counted by the set's index already (for the page, which Datasette asks for first).
            return f"select {int(members)}"
        if count:
            return count_sql(cheapest(count_costs(where, params, members, walkable), members), where, walk_index)
        limit = int(page["limit"])
        if kept and not where.equals and (sql := await self.kept_page_sql(kept, where, params, page["columns"], limit)):
            return sql
        costs = plan_costs(members, walkable, expected, limit, where.kind.ask_cost(params), where.kind)
        plan = cheapest(costs, members)
        if self.read_in_order(where, params, members, paragraphs, limit, costs[plan]):
            ordered = await self.ordered(where, params)
            if (sql := ordered.page_sql(where, params, page["columns"], limit)) is not None:
                return sql
        return page_sql(plan, where, page["columns"], limit, walk_index)

    async def members_sql(self, members, where: Where, params: dict, page: re.Match | None, count: re.Match | None) -> str | None:
        """The count (a number) or the page (its members listed) of members kept in memory; None
        without them."""
        if members is None:
            return None
        if count:
            return f"select {members.count()}"
        return await self.kept_page_sql(members, where, params, page["columns"], int(page["limit"]))

    async def selected_sql(self, clause: str, start, params: dict, page: re.Match | None, count: re.Match | None) -> str | None:
        """The count or page of paragraphs picked by filters of any other kind (a range, `contains`,
        `_where`, a column that is no facet, beside a search or topic or not), from the members of
        the clause read once (the search plugin's `db.selected_members`), whose facets count from
        them too; None for a start that is no paragraph's id, or if reading them takes too long
        (the SQL as written then decides)."""
        # The members listed stand for the clause (which may ask a search or a topic again): the
        # page keeps only its start.
        if (start_only := parse_where("", start, need_set=False)) is None:
            return None
        return await self.members_sql(await self.selected(clause, params), start_only, params, page, count)

    async def selected(self, clause: str, params: dict):
        """The members of a where clause of any filters, read once by SQL (the search plugin's
        `db.selected_members`); None for no clause, or if reading them takes too long."""
        selected = getattr(self.db, "selected_members", None)
        if selected is None or not clause:
            return None
        try:
            return await selected(clause, params)
        except QueryInterrupted:
            return None

    async def sorted_page_sql(self, page: re.Match, params: dict) -> str | None:
        """A page sorted by a column other than id: its members' rows (from memory, as `members`
        finds them, its search walked once if need be) in that order, ties in id order, the first
        members after the page's start in every paragraph's rowids in that order (read once a
        sort, in a thread), by rowid. None until that order is read, or for any other clause: the
        SQL as written (on a table page, plugins/paging.py orders its ties by id)."""
        column, desc, limit = page["column"], bool(page["desc"]), int(page["limit"])
        rest, start = self.split_page_start(page["where"])
        if start is not None and (start.column != column or start.desc != desc or start.keys != ("id",)):
            return None  # not this sort's next page
        where = parse_where(rest, need_set=False)
        read_once = getattr(self.db, "read_once", None)
        # Only the sorts the table offers (metadata's sortable_columns) are read and held: a
        # reader's own SQL sorted by the text would otherwise have every paragraph's text sorted.
        sortable = self.db.ds.table_metadata(self.db.name, "paragraphs").get("sortable_columns")
        if read_once is None or (sortable is not None and column not in sortable):
            return None
        _, _, usable, _ = await self.read_shape()
        future = read_once(order_reader(column, desc))
        if (where is not None and any(kind not in usable for _, kind, _ in where.sets())) or future is None \
                or not future.done() or future.exception() is not None:
            return None  # (the order is read meanwhile, for the pages to come)
        members = await self.members(where, params, walk_alone=True) if where is not None else None
        if members is None:
            members = await self.selected(rest, params)  # filters of any other kind
        after_rowid = None
        if members is not None and start is not None:
            value = f'"{column}" is null' if start.value is None else f'"{column}" = :value'
            found = (await self.execute(f"select rowid from paragraphs where id = :after and {value}",
                                        {"after": params.get(start.params[0]), "value": params.get(start.value)})).first()
            if found is None:
                return None  # no row of that id and value: the SQL decides where the page starts
            after_rowid = found[0]
        rowids = members.first_in_order(future.result(), after_rowid, limit) if members is not None else None
        if rowids is None:
            return None
        listed = ",".join(map(str, rowids.tolist()))
        order_by = f"{column}{' desc' if desc else ''}, id"
        return f"select {page['columns']} from paragraphs where rowid in ({listed}) order by {order_by} limit {limit}"

    async def kept_members(self, where: Where, params: dict):
        """A search's members, from the common words the archive keeps (the search plugin's
        `db.table_members`: a few ms at 1M, where counting or listing them walks the full-text
        index); None when it cannot."""
        return await self.members(where, params, filtered=False) if where.kind is SEARCH else None

    async def members(self, where: Where, params: dict, filtered: bool = True, walk_alone: bool = False):
        """The paragraphs of every set and column filter of the clause (unless not `filtered`: of
        its search alone), from memory (the search plugin's `db.table_members`: its kept words or
        its matches walked once, and every paragraph's facet keys, the last ones remembered for the
        page's count, facets and next pages). None when it cannot: a filter on a column that is no facet, a value no
        paragraph has, a search of no kept word alone (unless `walk_alone`), no such plugin."""
        table_members = getattr(self.db, "table_members", None)
        search = params.get("search") if where.kind is SEARCH else None
        pairs = [("_topic", params.get(arg.lstrip(":"))) for _, kind, arg in where.sets() if kind is TOPIC]
        pairs += [(column, params.get(param.lstrip(":"))) for column, param in where.equals]
        pairs = pairs if filtered else []
        if table_members is None or not all(isinstance(value, str) for _, value in pairs) \
                or (where.kind is SEARCH and not isinstance(search, str)):
            return None
        return await table_members(search, where.arg == ":search", pairs, walk_alone=walk_alone)

    async def kept_page_sql(self, kept, where: Where, params: dict, columns: str, limit: int) -> str | None:
        """A page of members kept in memory (a search's, or facet values'), as the rows of the first
        of them in id order after the page's start; None if the start is no paragraph's id."""
        after_rowid = None
        if where.after:
            after = params.get(where.after)
            found = (await self.execute("select rowid from paragraphs where id = :after", {"after": after})).first() \
                if isinstance(after, str) else None
            if found is None:
                return None  # Datasette's SQL decides where such a page starts
            after_rowid = found[0]
        rowids = kept.first_in_id_order(after_rowid, limit)
        return None if rowids is None else listed_page_sql(where, rowids, columns, limit)

    def read_in_order(self, where: Where, params: dict, members: int, paragraphs: int, limit: int, page_cost: float) -> bool:
        """Whether a page of a set with no column filter, being paged through, is read from the set
        kept in id order: it is kept already, or keeping it costs less than the pages to come (each
        costing what this one would by its own plan)."""
        if where.equals or not limit < members <= ORDERED_MAX or not (where.after or limit >= STREAMED_PAGE):
            return False
        return set_key(where, params)[0] in self.orders or worth_ordering(members, paragraphs, limit, page_cost)

    async def read_shape(self) -> tuple[int, str, set, dict]:
        """How many paragraphs, the id index's name, the sets whose shortcuts hold, and for each
        column an index of (column, id) that walks its values' rows in id order (read once)."""
        if self.shape is None:
            indexes = await self.execute("select name, origin from pragma_index_list('paragraphs')")
            id_index, column_indexes = None, {}
            for name, origin in [tuple(row) for row in indexes]:
                columns = [row[0] for row in await self.execute("select name from pragma_index_info(:n) order by seqno", {"n": name})]
                if origin == "pk" and columns == ["id"]:
                    id_index = name
                elif len(columns) == 2 and columns[1] == "id" and columns[0]:
                    column_indexes[columns[0]] = name
            usable = set()
            if id_index:
                for kind in SETS:
                    sql, pattern = kind.usable
                    found = (await self.execute(sql)).first()
                    if found and re.fullmatch(pattern, str(found[0])):
                        usable.add(kind)
            paragraphs = (await self.execute("select max(rowid) from paragraphs")).first()[0] or 0
            self.shape = (paragraphs, id_index, usable, column_indexes)
        return self.shape

    async def ordered(self, where: Where, params: dict) -> Ordered:
        """The set's members in id order, listed once and kept (the file never changes)."""
        key, values = set_key(where, params)
        if key not in self.orders:
            paragraphs, id_index, _, _ = await self.read_shape()
            members = await self.count(where.kind.count.format(arg=where.arg), params)
            # Listed as a page of every member: sorted, or walked from the id index, whichever is cheaper.
            listing = cheapest(listing_costs(members, paragraphs), members)
            the_set = Where([where.atoms[where.set_at]], 0, where.kind, where.arg, [])
            found = (await self.execute(page_sql(listing, the_set, "id, rowid", members, id_index), values)).rows
            self.orders[key] = Ordered(np.array([row[0].encode() for row in found], dtype=bytes),
                                       np.array([row[1] for row in found], dtype=np.int64))
            while sum(len(kept.ids) for kept in self.orders.values()) > KEPT_ORDERED_MEMBERS:
                self.orders.popitem(last=False)
        self.orders.move_to_end(key)
        return self.orders[key]

    async def count(self, sql: str, params: dict) -> int:
        """What a count query returns, counted once (the file never changes)."""
        key, values = kept_key(sql, params)
        if key not in self.counts:
            self.counts[key] = (await self.execute(sql, values)).first()[0]
            if len(self.counts) > KEPT_COUNTS:
                self.counts.popitem(last=False)
        self.counts.move_to_end(key)
        return self.counts[key]


def kept_key(sql: str, params: dict) -> tuple[tuple, dict]:
    """What identifies a query's answer, and the params it names."""
    values = named_values(sql, params)
    return (sql, tuple(values.items())), values


def set_key(where: Where, params: dict) -> tuple[tuple, dict]:
    """What identifies a where clause's set (its count's SQL and values), and those values."""
    return kept_key(where.kind.count.format(arg=where.arg), params)


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
