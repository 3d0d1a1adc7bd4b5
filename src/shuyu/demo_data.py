"""Synthetic but realistic data for the demo's three organisations, generated deterministically
(a seeded generator: demonstration data, not secrets) and never committed.

* bank ``customers``: id, Chinese name, resident ID number (GB 11643: a real division code,
  birth date, sequence, and the ISO 7064 MOD 11-2 check character), mobile number (real
  prefixes), city, balance;
* telco ``subscribers``: mobile number (about 60% of the bank's customers, plus others), plan,
  monthly fee, data used, since;
* shop ``orders``: order id, mobile number of the buyer, amount, category, time.

Samples for the hall are desensitised here (masked phone, name and ID number).
"""

from __future__ import annotations

import datetime
import random
from pathlib import Path

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华"
CITIES = {"北京": "110101", "上海": "310101", "广州": "440103", "深圳": "440303", "杭州": "330102"}
MOBILE_PREFIXES = ("138", "139", "150", "151", "186", "187", "135", "177")
PLANS = {"畅享套餐": "99.00", "基础套餐": "39.00", "5G尊享": "199.00", "学生套餐": "19.90"}
CATEGORIES = ("数码", "服装", "家居", "图书", "食品")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_number(division: str, birth: datetime.date, sequence: int) -> str:
    """A GB 11643 resident ID number with its check character."""
    body = f"{division}{birth:%Y%m%d}{sequence:03d}"
    total = sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True))
    return body + _CHECK[total % 11]


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


def mask_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1)


def mask_id(number: str) -> str:
    return number[:3] + "*" * 11 + number[-4:]


def generate(directory: Path, *, customers: int = 2000, seed: int = 20261128) -> dict[str, Path]:
    """Write ``bank.csv``, ``telco.csv`` and ``shop.csv``; returns their paths by party."""
    rng = random.Random(seed)  # demonstration data, deterministic on purpose
    directory.mkdir(parents=True, exist_ok=True)
    phones: set[str] = set()
    while len(phones) < customers * 2:
        phones.add(rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}")
    ordered = sorted(phones)
    rng.shuffle(ordered)
    bank_phones, others = ordered[:customers], ordered[customers:]
    paths = {party: directory / f"{party}.csv" for party in ("bank", "telco", "shop")}
    with paths["bank"].open("w", encoding="utf-8") as out:
        out.write("id,name,id_number,phone,city,balance\n")
        for index, phone in enumerate(bank_phones):
            city = rng.choice(list(CITIES))
            birth = datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randrange(365 * 55))
            name = rng.choice(SURNAMES) + "".join(
                rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))
            )
            balance = round(rng.lognormvariate(10, 1.2), 2)
            number = id_number(CITIES[city], birth, rng.randrange(1000))
            out.write(f"{index + 1},{name},{number},{phone},{city},{balance:.2f}\n")
    telco_phones = rng.sample(bank_phones, int(customers * 0.6)) + others[: customers // 2]
    with paths["telco"].open("w", encoding="utf-8") as out:
        out.write("phone,plan,monthly_fee,data_gb,since\n")
        for phone in telco_phones:
            plan = rng.choice(list(PLANS))
            since = datetime.date(2012, 1, 1) + datetime.timedelta(days=rng.randrange(365 * 13))
            out.write(f"{phone},{plan},{PLANS[plan]},{rng.randrange(1, 200)},{since}\n")
    buyers = rng.sample(telco_phones, len(telco_phones) // 2) + rng.sample(others, customers // 5)
    with paths["shop"].open("w", encoding="utf-8") as out:
        out.write("order_id,phone,amount,category,ordered_at\n")
        order = 100000
        start = datetime.datetime(2025, 1, 1)
        for phone in buyers:
            for _ in range(rng.randrange(1, 4)):
                order += 1
                amount = round(rng.uniform(9.9, 2999), 2)
                at = start + datetime.timedelta(minutes=rng.randrange(60 * 24 * 300))
                category = rng.choice(CATEGORIES)
                out.write(f"{order},{phone},{amount:.2f},{category},{at:%Y-%m-%d %H:%M:%S}\n")
    return paths
