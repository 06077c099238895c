"""The inspection queue and per-source details, read from the catalogue store."""

import random

QUEUES = ("uncertain", "flagged", "all")

_LATEST_CLASSIFICATION = ("SELECT * FROM classifications WHERE id IN "
                          "(SELECT MAX(id) FROM classifications GROUP BY source)")
# A re-run of the cross-match replaces, for the sources it covered, what earlier runs said.
_LATEST_XMATCHES = ("SELECT x.* FROM xmatches x JOIN (SELECT radio_id, MAX(run_id) AS run_id FROM xmatches "
                    "GROUP BY radio_id) latest ON x.radio_id = latest.radio_id AND x.run_id IS latest.run_id")


def decisions_sql(store):
    """SQL for the decisions that count: neither retractions nor retracted (undo appends a row that
    ``retracts`` a decision, deleting nothing). A store from before undo has no retractions."""
    if "retracts" not in store.columns("annotations"):
        return "SELECT * FROM annotations"
    return ("SELECT * FROM annotations a WHERE retracts IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM annotations r WHERE r.retracts = a.id)")


def _records(store, sql, parameters=()):
    cursor = store.connection.execute(sql, parameters)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def source_queue(store, queue="uncertain", label=None, order="store", seed=None, undecided_by=None):
    """Sources to inspect, as dicts with source, ra, dec, label, confidence, flag.

    ``uncertain``: the classifier's latest flag is ``uncertain`` or ``ood``; ``flagged``: a row of
    the latest cross-match of the source carries a flag other than ``ok`` (then ``flag`` is that
    flag); ``all``: every source that has a classification or a cross-match. ``label`` keeps one
    predicted label; ``undecided_by`` leaves out the sources that user has already decided;
    ``order="random"`` shuffles (reproducibly with ``seed``).
    """
    if queue not in QUEUES:
        raise ValueError(f"queue must be one of {', '.join(QUEUES)}, not {queue!r}")
    classified = {r["source"]: r for r in _records(store, _LATEST_CLASSIFICATION)}
    xmatch_flags = {}
    for r in _records(store, f"SELECT radio_id, flag, ra, dec FROM ({_LATEST_XMATCHES}) ORDER BY id"):
        entry = xmatch_flags.setdefault(r["radio_id"], {"flag": None, "ra": r["ra"], "dec": r["dec"]})
        if r["flag"] and r["flag"] != "ok":
            entry["flag"] = r["flag"]
    if queue == "uncertain":
        names = [s for s, r in classified.items() if r["flag"] in ("uncertain", "ood")]
    elif queue == "flagged":
        names = [s for s, r in xmatch_flags.items() if r["flag"]]
    else:
        names = list(dict.fromkeys(list(classified) + list(xmatch_flags)))
    if undecided_by is not None:
        decided = {r[0] for r in store.connection.execute(f"SELECT DISTINCT source FROM ({decisions_sql(store)}) "
                                                          "WHERE user=?", (undecided_by,))}
        names = [name for name in names if name not in decided]
    rows = []
    for name in names:
        c = classified.get(name, {})
        x = xmatch_flags.get(name, {})
        flag = x.get("flag") if queue == "flagged" else c.get("flag") or x.get("flag")
        row = {"source": name, "ra": c.get("ra", x.get("ra")), "dec": c.get("dec", x.get("dec")),
               "label": c.get("label"), "confidence": c.get("confidence"), "flag": flag}
        if label is None or row["label"] == label:
            rows.append(row)
    if order == "random":
        random.Random(seed).shuffle(rows)
    return rows


def source_details(store, source, user=None):
    """Everything the page shows for one source: probabilities, candidates, cutouts, the decisions
    that count (not retracted) and ``mine``, the latest of them by ``user``."""
    classification = _records(store, "SELECT * FROM classifications WHERE source=? ORDER BY id DESC LIMIT 1",
                              (source,))
    candidates = _records(store, "SELECT optical_id, separation_arcsec, rank, lr, reliability, ra, dec, flag "
                                 "FROM xmatches WHERE radio_id=? AND run_id IS "
                                 "(SELECT MAX(run_id) FROM xmatches WHERE radio_id=?) "
                                 "ORDER BY rank, separation_arcsec", (source, source))
    cutouts = _records(store, "SELECT id, survey, status, path FROM cutouts WHERE source=? AND path IS NOT NULL "
                              "ORDER BY id", (source,))
    decisions = _records(store, f"SELECT id, label, host, comment, user, time FROM ({decisions_sql(store)}) "
                                "WHERE source=? ORDER BY id", (source,))
    if not (classification or candidates or cutouts or decisions):
        return None
    c = classification[0] if classification else {}
    probabilities = {k[2:]: c[k] for k in ("p_fri", "p_frii", "p_bent", "p_comp") if c.get(k) is not None}
    mine = [d for d in decisions if d["user"] == user]
    xmatch_flag = next((x["flag"] for x in candidates if x["flag"] and x["flag"] != "ok"),
                       "ok" if candidates else None)
    return {"source": source, "ra": c.get("ra"), "dec": c.get("dec"), "label": c.get("label"),
            "confidence": c.get("confidence"), "flag": c.get("flag"), "xmatch_flag": xmatch_flag,
            "probabilities": probabilities,
            "candidates": candidates, "cutouts": cutouts, "annotations": decisions,
            "mine": mine[-1] if mine else None}


def agreement(store):
    """Agreement between annotators: the latest decision (not retracted) per (source, user), compared per source.

    Returns counts of sources annotated, by more than one user, and those where every user's
    latest label (and host) agree, with the fraction.
    """
    latest = _records(store, "SELECT source, user, label, host FROM annotations WHERE id IN "
                             f"(SELECT MAX(id) FROM ({decisions_sql(store)}) GROUP BY source, user)")
    by_source = {}
    for r in latest:
        by_source.setdefault(r["source"], []).append(r)
    shared = {s: rs for s, rs in by_source.items() if len(rs) > 1}
    label_agree = sum(len({r["label"] for r in rs}) == 1 for rs in shared.values())
    host_agree = sum(len({r["host"] for r in rs}) == 1 for rs in shared.values())
    users = sorted({r["user"] for r in latest if r["user"]})
    return {"sources": len(by_source), "users": users, "multiply_annotated": len(shared),
            "label_agreement": label_agree / len(shared) if shared else None,
            "host_agreement": host_agree / len(shared) if shared else None}
