"""`make demo`: three organisations compute jointly over TLS without showing each other their data.

A bank, a telco and an insurer each hold one column about the same 20,000 customers (rows
already aligned; private set intersection comes with the join engine). Three party processes on
this host, connected by mutually authenticated TLS with certificates from a fresh data-space CA,
compute under replicated secret sharing:

1. how many customers spend more than 200 CNY a month on their phone but keep under 10,000 CNY
   in the bank (opened to everyone),
2. the average balance of those customers (only the sum and the count are opened),
3. the five customers with the highest combined risk score, opened to the insurer only.

Every result is checked against the same computation in plaintext, and the demo prints what
each party learned and the bytes and rounds it cost. Later issues turn this into the full data
space (hub, nodes, portal).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from shuyu.config import Settings
from shuyu.mpc import (
    and_bits,
    bit_inject,
    greater_than,
    less_than,
    reveal,
    share,
    sort,
)
from shuyu.mpc.runner import run_parties
from shuyu.mpc.runtime import Runtime

CUSTOMERS = 20_000
TOP = 5
PARTIES = (
    ("银行 Bank A", "存款余额 balance (CNY)"),
    ("运营商 Telco B", "月话费 monthly phone spend (CNY)"),
    ("保险公司 Insurer C", "理赔次数 claims in 3 years"),
)


@dataclass(frozen=True)
class DemoData:
    balance: np.ndarray
    spend: np.ndarray
    claims: np.ndarray


def demo_data(seed: int = 20261128) -> DemoData:
    """Synthetic, public demo data (each party only ever reads its own column)."""
    rng = np.random.default_rng(seed)
    balance = np.round(rng.lognormal(9.5, 1.2, CUSTOMERS), 2)
    spend = np.round(rng.gamma(2.0, 70.0, CUSTOMERS), 2)
    claims = rng.poisson(0.4, CUSTOMERS).astype(np.int64)
    return DemoData(balance, spend, claims)


def demo_program(rt: Runtime, data: DemoData) -> dict[str, Any]:
    """Runs at each party; a party passes only its own column into the engine."""
    n = CUSTOMERS
    mine = (data.balance, data.spend, data.claims)[rt.party]
    balance = share(rt, mine if rt.party == 0 else None, 0, fixed_point=True, shape=(n,))
    spend = share(rt, mine if rt.party == 1 else None, 1, fixed_point=True, shape=(n,))
    claims = share(rt, mine if rt.party == 2 else None, 2, shape=(n,))
    start = rt.snapshot()
    began = time.perf_counter()

    # 1 and 2: a filtered count and average; only the count and the sum are opened.
    selected = and_bits(greater_than(spend, 200), less_than(balance, 10_000))
    flag = bit_inject(selected)
    count = reveal(flag.sum())
    total = reveal((flag * balance).sum())

    # 3: risk score = claims * 2000 + spend * 10 - balance / 10, top five to the insurer only.
    score = claims.mul_public_int(2000).rescale(rt.frac_bits) + spend * 10 - balance * 0.1
    ids = share(rt, np.arange(n) if rt.party == 2 else None, 2, shape=(n,))
    _, (ranked_ids,) = sort(score, [ids], descending=True, key_bits=46)
    top = reveal(ranked_ids[:TOP], to=(2,))

    cost = rt.snapshot() - start
    return {
        "count": None if count is None else int(count),
        "total": None if total is None else float(total),
        "top": None if top is None else top.tolist(),
        "seconds": time.perf_counter() - began,
        "bytes": cost.bytes_sent,
        "rounds": cost.rounds,
    }


def plaintext_reference(data: DemoData) -> dict[str, Any]:
    """The same computation in the clear (only possible here because the demo data is public)."""
    mask = (data.spend > 200) & (data.balance < 10_000)
    score = data.claims * 2000 + data.spend * 10 - data.balance * 0.1
    order = np.argsort(-score, kind="stable")
    return {
        "count": int(mask.sum()),
        "total": float(data.balance[mask].sum()),
        "top": order[:TOP].tolist(),
    }


def main(settings: Settings) -> int:
    """Run the demo; prints bilingual results and returns a process exit status."""
    data = demo_data()
    print("数域 Shuyu — 三方安全计算演示 / three-party secure computation demo\n")
    for party, (name, column) in enumerate(PARTIES):
        print(f"  参与方 party {party}: {name:<22} 持有 holds: {column}")
    print(
        f"\n  {CUSTOMERS} 位共同客户 common customers; 数据不出域 raw data never leaves its owner."
    )
    print(
        "  启动三个进程并以双向 TLS 1.3 互联 / starting three processes over mutual TLS 1.3 ...\n"
    )
    results = run_parties(demo_program, data, settings=settings.mpc)
    reference = plaintext_reference(data)
    everyone = results[0]
    insurer = results[2]
    average = everyone["total"] / everyone["count"] if everyone["count"] else 0.0
    ok_count = everyone["count"] == reference["count"]
    ok_total = abs(everyone["total"] - reference["total"]) <= 0.01 * max(1, reference["count"])
    ok_top = insurer["top"] == reference["top"]
    mark = {True: "✓ 与明文计算一致 matches plaintext", False: "✗ 与明文不一致 MISMATCH"}
    print("结果 Results")
    print(
        f"  1. 话费 > 200 且余额 < 10,000 的客户数 / customers with spend > 200 and balance "
        f"< 10,000: {everyone['count']}   {mark[ok_count]}"
    )
    print(f"  2. 这些客户的平均余额 / their average balance: {average:,.2f} CNY   {mark[ok_total]}")
    print(
        f"  3. 综合风险最高的 {TOP} 位客户 / top {TOP} customers by risk score "
        f"(仅保险公司可见 insurer only): {insurer['top']}   {mark[ok_top]}"
    )
    print("\n各方所见 What each party saw")
    print("  - 只看到均匀随机的秘密份额，以及上面明确公开的结果 / only uniformly random shares,")
    print(
        "    plus the results opened above; 结果 3 只有保险公司得到 / result 3 reached the "
        "insurer only:"
    )
    for party, result in enumerate(results):
        seen = "—" if result["top"] is None else result["top"]
        print(f"      party {party}: top-{TOP} = {seen}")
    print("\n开销 Cost (per party, computation only)")
    for party, result in enumerate(results):
        print(
            f"  party {party}: {result['seconds']:.2f} s, {result['bytes'] / 1e6:.1f} MB sent, "
            f"{result['rounds']} rounds"
        )
    print(
        "\n下一步 Next: `make test` 运行全部测试 runs the whole test suite; docs/mpc.md 说明协议与"
        "威胁模型 explains the protocols and the threat model.\n"
        "跨域 SQL 查询 SQL across domains (docs/sql.md):\n"
        "  .venv/bin/shuyu query --space tests/fixtures/sql/space/space.yaml"
        " --as bank --explain \\\n"
        '    "SELECT c.city, COUNT(*) AS n FROM bank.customers c '
        'JOIN telco.subscribers s ON s.phone = c.phone GROUP BY c.city"'
    )
    return 0 if ok_count and ok_total and ok_top else 1
