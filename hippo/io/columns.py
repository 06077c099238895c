"""Which columns of a table hold RA, Dec and the source id: by UCD, common names, or as named.

Pure Python (no astropy import), so fast paths such as ``hippo xmatch`` on FITS can use it.
"""

from hippo.errors import InputError

RA_NAMES = ("ra", "raj2000", "ra_deg", "ra_icrs", "radeg", "ra_j2000", "ra2000", "alpha", "_raj2000", "ra_d")
DEC_NAMES = ("dec", "dej2000", "decj2000", "dec_deg", "de_icrs", "dec_icrs", "decdeg", "dedeg", "dec_j2000",
             "dec2000", "delta", "_dej2000", "dec_d")
ID_NAMES = ("source", "name", "id", "source_name", "source_id", "objid", "obj_id", "object", "designation",
            "radio_id", "optical_id", "iau_name")


def find_column(table, explicit, ucd_word, names, role, required, source):
    """Column for ``role`` ('ra', 'dec', 'id', 'flux', ...): the explicit name, else by UCD (when
    ``ucd_word`` is given), else by common ``names`` (compared lower-case), else, for 'ra' and
    'dec', the one column named like ``host_ra`` / ``ra_host``; None when not ``required``.

    Only ``table.colnames`` is needed, and ``table[name]`` for the UCD search.
    """
    if explicit:
        if explicit not in table.colnames:
            raise InputError(source, f"no column {explicit!r} for {role} (columns: {', '.join(table.colnames[:20])})")
        return explicit
    if ucd_word:
        ucds = {name: str((getattr(table[name], "meta", None) or {}).get("ucd", "")).lower()
                for name in table.colnames}
        for name, ucd in ucds.items():
            if ucd.startswith(ucd_word) and "meta.main" in ucd:
                return name
        for name, ucd in ucds.items():
            if ucd.startswith(ucd_word) and "err" not in ucd:
                return name
    lowered = {name.lower(): name for name in table.colnames}
    for candidate in names:
        if candidate in lowered:
            return lowered[candidate]
    if role in ("ra", "dec"):
        affixed = [name for name in table.colnames
                   if name.lower().endswith("_" + role) or name.lower().startswith(role + "_")]
        if len(affixed) == 1:
            return affixed[0]
    if required:
        raise InputError(source, f"no {role.upper()} column found (tried {', '.join(names[:6])}, ...; "
                                 f"name it with --{role}-col)")
    return None


def find_position_columns(table, ra_col=None, dec_col=None, id_col=None, source="table"):
    """Return the (ra, dec, id) column names; id is None when the table has no id column."""
    ra = find_column(table, ra_col, "pos.eq.ra", RA_NAMES, "ra", True, source)
    dec = find_column(table, dec_col, "pos.eq.dec", DEC_NAMES, "dec", True, source)
    ident = find_column(table, id_col, "meta.id", ID_NAMES, "id", bool(id_col), source)
    return ra, dec, ident
