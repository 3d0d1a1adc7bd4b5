"""One exception hierarchy for all of Shuyu.

Every error a user can meet is a :class:`ShuyuError` subclass with a stable ``code``
(``area.what``), an HTTP ``status``, a message that says what was wrong and a ``hint`` that says
the fix. Services render errors as ``{ok, code, error, hint, status}``; the CLI prints message and
hint, never a traceback. Every code is listed in ``docs/errors.md`` (a test enforces it).

Messages never contain secret values: no share, key, or plaintext input of another party.

This module imports nothing from Shuyu (it is the bottom layer).

Example:
    >>> err = PeerUnavailable("party 2 did not answer within 5.0 s")
    >>> err.code, err.status
    ('mpc.peer_unavailable', 503)
    >>> err.to_dict()["ok"]
    False
"""

from __future__ import annotations

from typing import Any, ClassVar


class ShuyuError(Exception):
    """Root of every error Shuyu raises on purpose."""

    code: ClassVar[str] = "shuyu.error"
    status: ClassVar[int] = 500
    default_hint: ClassVar[str] = (
        "This is a bug in Shuyu; please report it with the command you ran."
    )

    registry: ClassVar[dict[str, type[ShuyuError]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            existing = ShuyuError.registry.get(cls.code)
            if existing is not None and existing is not cls:
                raise TypeError(f"error code {cls.code!r} is used by {existing.__name__} already")
            ShuyuError.registry[cls.code] = cls

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The one error shape every service and the CLI's JSON output use."""
        return {
            "ok": False,
            "code": self.code,
            "error": self.message,
            "hint": self.hint,
            "status": self.status,
        }


ShuyuError.registry[ShuyuError.code] = ShuyuError


# --- configuration -------------------------------------------------------------------------


class ConfigError(ShuyuError):
    code = "config.invalid"
    status = 400
    default_hint = "Fix the setting named in the message; `docs/configuration.md` lists them all."


class UnknownSetting(ConfigError):
    code = "config.unknown_setting"
    default_hint = "Check the spelling; `docs/configuration.md` lists every setting."


class ConfigFileError(ConfigError):
    code = "config.file_unreadable"
    default_hint = "Give a readable TOML file, or omit --config to use the defaults."


# --- identities (CA, certificates) ---------------------------------------------------------


class IdentityError(ShuyuError):
    code = "identity.invalid"
    status = 400
    default_hint = "Check the CA directory and the party name."


class CaExists(IdentityError):
    code = "identity.ca_exists"
    status = 409
    default_hint = "Choose an empty directory; an existing CA is never overwritten."


class CaMissing(IdentityError):
    code = "identity.ca_missing"
    status = 404
    default_hint = "Create the CA first with `shuyu ca init DIR`."


class InvalidName(IdentityError):
    code = "identity.invalid_name"
    default_hint = (
        "Use 1-63 characters: lower-case letters, digits and '-', starting with a letter and "
        "not ending with '-'."
    )


class CertificateExists(IdentityError):
    code = "identity.certificate_exists"
    status = 409
    default_hint = "Pick another name, or remove the old certificate and key first."


class UntrustedPeer(IdentityError):
    code = "identity.untrusted_peer"
    status = 403
    default_hint = (
        "Every party must hold a certificate issued by this data space's CA; "
        "issue one with `shuyu ca issue DIR NAME`."
    )


# --- input validation shared by every layer ---------------------------------------------


class InvalidInput(ShuyuError):
    code = "input.invalid"
    status = 400
    default_hint = "Check the value named in the message."


# --- secure computation -----------------------------------------------------------------


class MpcError(ShuyuError):
    code = "mpc.error"
    status = 500


class ShapeMismatch(MpcError):
    code = "mpc.shape_mismatch"
    status = 400
    default_hint = "Both operands must have the same shape (or one must be a scalar)."


class InvalidDtype(MpcError):
    code = "mpc.invalid_dtype"
    status = 400
    default_hint = "Give integers (int8..int64, uint8..uint32), booleans, or finite floats."


class FixedPointOverflow(MpcError):
    code = "mpc.fixed_point_overflow"
    status = 400
    default_hint = (
        "Scale the data down or lower `mpc.frac_bits`; `docs/mpc.md` gives the range for each "
        "setting."
    )


class InvalidParty(MpcError):
    code = "mpc.invalid_party"
    status = 400
    default_hint = "Parties are numbered 0, 1 and 2."


class SecretInCondition(MpcError):
    code = "mpc.secret_in_condition"
    status = 400
    default_hint = (
        "A secret value cannot steer Python control flow; use `mux` to select obliviously, "
        "or reveal the value first if its policy allows."
    )


class ProtocolError(MpcError):
    code = "mpc.protocol_error"
    default_hint = (
        "The parties disagreed about the protocol (different programs or versions); "
        "run the same Shuyu version and program on all three parties."
    )


class PeerUnavailable(MpcError):
    code = "mpc.peer_unavailable"
    status = 503
    default_hint = (
        "Check that all three parties are running, reachable at the configured addresses, and "
        "within `mpc.peer_timeout_s`; then retry the job."
    )


class UnsupportedOperation(MpcError):
    code = "mpc.unsupported"
    status = 400
    default_hint = "See `docs/mpc.md` for the operations and argument combinations supported."


class PartyFailed(MpcError):
    code = "mpc.party_failed"
    status = 500
    default_hint = (
        "A party process crashed; rerun with --debug to see its traceback, and report it."
    )


# --- joins and PSI -------------------------------------------------------------------------


class JoinError(ShuyuError):
    code = "psi.error"
    status = 400
    default_hint = "See docs/joins.md for what the join engine accepts."


class InvalidKeyType(JoinError):
    code = "psi.invalid_key_type"
    default_hint = (
        "Join on integers or strings; scale decimals to integers first. NULL never matches."
    )


class MixedKeyTypes(JoinError):
    code = "psi.mixed_key_types"
    default_hint = "Give each key column one type (integers or strings) on both sides."


class KeyTypeMismatch(JoinError):
    code = "psi.key_type_mismatch"
    default_hint = (
        "The two sides' key columns must have the same types in the same order "
        "(cast one side, e.g. CAST(id AS CHAR))."
    )


class DuplicateKeys(JoinError):
    code = "psi.duplicate_keys"
    status = 409
    default_hint = (
        "A side declared unique has repeated keys; drop the uniqueness declaration or fix the data."
    )


class JoinSizeExceeded(JoinError):
    code = "psi.join_size_exceeded"
    status = 409
    default_hint = "Raise the padding bound of the private join, or let the join size be revealed."


class NoMatcher(JoinError):
    code = "psi.no_matcher"
    status = 409
    default_hint = (
        "Every compute party owns one of the joined tables; add an assist node as a compute "
        "party, or join with ECDH-PSI between the two owners."
    )


# --- ECDH-PSI between two parties (`shuyu psi`) ---------------------------------------------


class UnknownKeyColumn(JoinError):
    code = "psi.unknown_column"
    default_hint = (
        "Give --column exactly as it is written in the file's header line (names are "
        "case-sensitive; surrounding spaces are ignored). 请按表头中的列名填写 --column。"
    )


class InvalidCsv(JoinError):
    code = "psi.invalid_csv"
    default_hint = (
        "Save the input as UTF-8 CSV with one header line and the same number of fields on "
        "every line (use --delimiter for other separators). 请将输入保存为带表头的 UTF-8 CSV。"
    )


class UnreadableInput(JoinError):
    code = "psi.input_unreadable"
    default_hint = (
        "Check the --input path and its permissions, and leave the file unchanged until the "
        "join finishes. 请检查输入文件路径与权限。"
    )


class OutputUnwritable(JoinError):
    code = "psi.output_unwritable"
    default_hint = "Choose an --output path in a directory you can write to. 请选择可写的输出路径。"


class PsiPeerMismatch(JoinError):
    code = "psi.peer_mismatch"
    status = 409
    default_hint = (
        "Run both sides with the same Shuyu version and the same --key-type, --casefold and "
        "--hash-to-curve, and let the peer learn what it asks for (--reveal-to-peer). "
        "请双方使用一致的参数。"
    )


class PsiPeerUnavailable(JoinError):
    code = "psi.peer_unavailable"
    status = 503
    default_hint = (
        "Start the other side (`shuyu psi --as b --listen ...` first, then `--as a --peer ...`), "
        "check the address, firewall and party names, and retry; raise "
        "ecdh_psi.connect_timeout_s or ecdh_psi.peer_timeout_s for slow peers. "
        "请确认对端已启动且网络可达后重试。"
    )


class PsiProtocolError(JoinError):
    code = "psi.protocol_error"
    status = 502
    default_hint = (
        "The peer sent data that does not follow the ECDH-PSI protocol; run the same Shuyu "
        "version on both sides and retry. 对端数据不符合协议。"
    )


class PsiPeerFailed(JoinError):
    code = "psi.peer_failed"
    status = 502
    default_hint = (
        "The other side stopped with the error quoted in the message; it must fix it (its "
        "own output shows the hint), then both sides rerun. 对端出错，请按对端提示处理后重试。"
    )


# --- SQL: parsing, binding, planning ------------------------------------------------------


class SqlError(ShuyuError):
    code = "sql.invalid"
    status = 400
    default_hint = "See docs/sql.md for the SQL Shuyu accepts."


class SqlSyntaxError(SqlError):
    code = "sql.syntax_error"
    default_hint = "Fix the SQL at the underlined position."


class UnknownTable(SqlError):
    code = "sql.unknown_table"
    default_hint = "Name tables as party.table; `shuyu query --space S --tables` lists them."


class UnknownColumn(SqlError):
    code = "sql.unknown_column"
    default_hint = "Check the column name; the message suggests the closest names."


class AmbiguousColumn(SqlError):
    code = "sql.ambiguous_column"
    default_hint = "Qualify the column with its table or alias (alias.column)."


class SqlTypeError(SqlError):
    code = "sql.type_error"
    default_hint = "Cast the operand (CAST(x AS ...)) or use a function that accepts its type."


class UnsupportedSql(SqlError):
    code = "sql.unsupported"
    default_hint = "Rewrite the query without the named construct; docs/sql.md lists what works."


# --- column policy -------------------------------------------------------------------------


class PolicyError(ShuyuError):
    code = "policy.invalid"
    status = 400
    default_hint = "Fix the policy entry named in the message (docs/policy.md)."


class PolicyDenied(PolicyError):
    code = "policy.denied"
    status = 403
    default_hint = "Ask the column's owner for the grant named in the message, or change the query."


# --- spaces and data sources ---------------------------------------------------------------


class SpaceError(ShuyuError):
    code = "space.invalid"
    status = 400
    default_hint = "Fix the space file at the key named in the message (docs/sql.md, 'Spaces')."


class SourceUnavailable(ShuyuError):
    code = "source.unavailable"
    status = 503
    default_hint = "Check that the file exists or the database is reachable with those credentials."


class SourceError(ShuyuError):
    code = "source.invalid"
    status = 400
    default_hint = "Check the table and column names and types in the data source."


# --- the hub's API ---------------------------------------------------------------------------


class HubError(ShuyuError):
    code = "hub.error"
    status = 400
    default_hint = "See docs/platform.md for the hub's API."


class InvalidRequest(HubError):
    code = "hub.invalid_request"
    status = 422
    default_hint = "Fix the field named in the message; /openapi.json describes every route."


class Unauthenticated(HubError):
    code = "hub.unauthenticated"
    status = 401
    default_hint = "Log in with POST /api/login and send the token as 'Authorization: Bearer ...'."


class Forbidden(HubError):
    code = "hub.forbidden"
    status = 403
    default_hint = "Use an account with the role the message names, or ask its owner."


class NotFound(HubError):
    code = "hub.not_found"
    status = 404
    default_hint = "Check the identifier; the list routes (e.g. GET /api/datasets) show them."


class Conflict(HubError):
    code = "hub.conflict"
    status = 409
    default_hint = "The object is not in a state that allows this; read it again and retry."


class HubUnavailable(HubError):
    code = "hub.unavailable"
    status = 503
    default_hint = "Check the hub's URL and that `shuyu hub` is running, then retry."


class QuotaExhausted(HubError):
    code = "hub.quota_exhausted"
    status = 403
    default_hint = "Ask the dataset's owner for a new grant with a larger quota."


def error_from_body(status: int, body: Any) -> ShuyuError:
    """The error a service answered in the one error shape, as its class (for clients)."""
    try:
        code, message, hint = body["code"], body["error"], body["hint"]
    except (KeyError, TypeError):
        return ShuyuError(f"the service answered {status} without an error body")
    cls = ShuyuError.registry.get(str(code), ShuyuError)
    return cls(str(message), hint=str(hint))


def all_error_codes() -> dict[str, type[ShuyuError]]:
    """Every registered code and its class (used by the docs test and the CLI)."""
    return dict(sorted(ShuyuError.registry.items()))
