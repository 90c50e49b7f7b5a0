#!/usr/bin/env python3
"""One table of every benchmark ratio, from the parts' JSON in OUT
(engine.json, upload.json, import.json); writes OUT/run.json, OUT/run.md
(the table for bench/RESULTS.md) and OUT/run.html.

usage: summary.py OUT

A ratio is the peer's time over ours: above 1 we are faster. Rows against a
ceiling (cat, the server's bare COPY) say how close we come, not whether we
beat it.
"""
import datetime
import html
import json
import os
import sys


def load(out, name):
    path = os.path.join(out, name)
    return json.load(open(path)) if os.path.exists(path) else None


def main():
    out = sys.argv[1]
    engine, upload, imp = load(out, "engine.json"), load(out, "upload.json"), load(out, "import.json")
    rows, resources, missing = [], [], []

    def row(area, ours, peer, ratio, kind="peer", target=None, note=""):
        """kind: "peer" (beat it: ratio > 1) or "ceiling" (come close: target is the least ratio)."""
        if kind == "peer":
            verdict = "beats" if ratio > 1 else "loses"
        else:
            verdict = "met" if target is not None and ratio >= target else ("missed" if target is not None else "-")
        rows.append({"area": area, "ours": ours, "peer": peer, "ratio": round(ratio, 3), "kind": kind,
                     "target": target, "verdict": verdict, "note": note})

    if engine:
        res = engine["results"]
        size = max(r["bytes"] for r in res)
        at = {r["tool"]: r for r in res if r["bytes"] == size}
        sf = at.get("sanitize+fingerprint")
        if sf and "sed (src-cli filter)" in at:
            mb = size / 1e6
            row("engine", "sanitize", "sed (src-cli filter)", at["sanitize"]["ratio_vs_sed"],
                note=f"{mb:.0f} MB dump, {at['sanitize']['mb_per_s']:.0f} MB/s")
            row("engine", "sanitize+fingerprint", "sed (src-cli filter)", sf["ratio_vs_sed"],
                note=f"{sf['mb_per_s']:.0f} MB/s on one core (target >= 1000): "
                     f"{'met' if sf['mb_per_s'] >= 1000 else 'missed'}; sed only rewrites lines, we lex and hash every row")
            row("engine", "sanitize+fingerprint", "cat (ceiling)", sf["ratio_vs_cat"], kind="ceiling")
            resources.append({"step": "sanitize+fingerprint (engine)", "max_rss_mb": sf["max_rss_kb"] / 1024,
                              "cpu_s_per_gb": sf["cpu_s"] / (size / 1e9)})
    else:
        missing.append("engine")

    if upload:
        res = [r for r in upload["results"] if r["emulator"] == "strict fake"]
        by = {r["name"]: r for r in res}
        pairs = [("upload raw, 1 file", "curl --upload-file, 1 file", ""),
                 ("upload sanitized, 1 file", "curl --upload-file, 1 file", ""),
                 ("upload sanitized, 3 files at once", "curl --upload-file, 3 files at once", ""),
                 ("upload sanitized --gzip-level=1, 3 files", "curl --upload-file, 3 files at once", "sends 27% of the bytes"),
                 ("upload sanitized --gzip-level=3, 3 files", "curl --upload-file, 3 files at once", "the default level")]
        for ours, peer, note in pairs:
            if ours in by and peer in by:
                o = by[ours]
                sent = o["sent"] / o["bytes"]
                row("upload", ours, peer.replace(" --upload-file", ""), by[peer]["result"]["wall_s"] / o["result"]["wall_s"],
                    note=f"{o['mb_per_s']:.0f} MB/s; sends {100 * sent:.0f}% of the bytes; curl: one request, no chunks, no checksums")
        for name in ("upload sanitized, 1 file", "upload sanitized, 3 files at once", "upload sanitized --gzip-level=3, 3 files"):
            if name in by:
                resources.append({"step": name, "max_rss_mb": by[name]["max_rss_mb"], "cpu_s_per_gb": by[name]["cpu_s_per_gb"]})
    else:
        missing.append("upload")

    if imp:
        r = imp["results"]
        gb = imp["dump_bytes"] / 1e9
        if "c2" in r:
            row("import", "import --jobs=2", "psql -f per database (runbook)", r["c2"]["ratio_vs_a"])
            row("import", "import --jobs=2", "pg_restore -j 2", r["c2"]["ratio_vs_b"],
                note="pg_restore needs -Fc dumps, fails on pg_stat_statements as a non-superuser and checks nothing")
            row("import", "import --jobs=4", "pg_restore -j 2", r["c4"]["ratio_vs_b"], note="4 jobs on a 2-core server")
            row("import", "COPY per connection", "bare COPY per connection (ceiling)",
                r["c2"]["pct_of_ceiling_per_conn"] / 100, kind="ceiling", target=0.8,
                note=f"wall-clock data window {r['c2']['pct_of_ceiling']:.0f}% of the ceiling: index builds overlap loads on purpose")
            resources.append({"step": "import --jobs=2 (client)", "max_rss_mb": r["c2"]["client_max_rss_mb"],
                              "cpu_s_per_gb": r["c2"]["client_cpu_s"] / gb})
        if "e_ours" in r:
            for key, peer in (("e_md5", "count + md5(string_agg) per table"), ("e_hashtext", "count + sum(hashtext) per table (pgcopydb)")):
                row("compare", "compare --jobs=2", peer, r[key]["wall_s"] / r["e_ours"]["wall_s"],
                    note="peer timed on the target only; it needs the same again on the source")
            resources.append({"step": "compare --jobs=2 (client)", "max_rss_mb": r["e_ours"]["client_max_rss_mb"],
                              "cpu_s_per_gb": r["e_ours"]["client_cpu_s"] / gb})
        if "f_ours" in r:
            row("migration", "dump -bucket + import + compare", "runbook: pg_dump, curl, psql, no check",
                r["f_ours"]["ratio_vs_runbook"], note=f"{r['f_ours']['wall_s']:.0f} s vs {r['f_runbook']['wall_s']:.0f} s, ours verified")
            for st in r["f_ours"]["steps"]:
                resources.append({"step": f"migration: {st['step']}", "max_rss_mb": st["max_rss_mb"], "cpu_s_per_gb": st["cpu_s_per_gb"]})
    else:
        missing.append("import")

    machine = (imp or upload or engine or {}).get("machine", {})
    summary = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine,
               "src_snapshot_rev": (imp or {}).get("src_snapshot_rev"), "size": (imp or {}).get("size"),
               "rows": rows, "resources": resources, "missing_parts": missing}
    json.dump(summary, open(os.path.join(out, "run.json"), "w"), indent=2)

    print(f"\nsrc-snapshot benchmarks, {machine.get('cpus', '?')} CPUs, {machine.get('cpu_model', machine.get('platform', ''))}")
    print(f"{'area':<10} {'ours':<42} {'peer':<42} {'ratio':>6}  verdict")
    for r_ in rows:
        tgt = f" (target {r_['target']:.2f})" if r_["target"] is not None else ""
        print(f"{r_['area']:<10} {r_['ours']:<42} {r_['peer']:<42} {r_['ratio']:>6.2f}  {r_['verdict']}{tgt}")
        if r_["note"]:
            print(f"{'':<10} {'':<42} {'':<42} {'':>6}  {r_['note']}")
    print(f"\n{'our step':<48} {'max RSS MB':>10} {'CPU s/GB':>9}")
    for s in resources:
        print(f"{s['step']:<48} {s['max_rss_mb']:>10.1f} {s['cpu_s_per_gb']:>9.2f}")
    if missing:
        print(f"\nno results yet for: {', '.join(missing)} (run bench/run --only={','.join(missing)})")

    md = ["| area | ours | peer | ratio | verdict | note |", "| --- | --- | --- | ---: | --- | --- |"]
    for r_ in rows:
        tgt = f" (target {r_['target']:.2f})" if r_["target"] is not None else ""
        md.append(f"| {r_['area']} | {r_['ours']} | {r_['peer']} | {r_['ratio']:.2f} | {r_['verdict']}{tgt} | {r_['note']} |")
    md += ["", "| our step | max RSS MB | CPU s/GB |", "| --- | ---: | ---: |"]
    md += [f"| {s['step']} | {s['max_rss_mb']:.1f} | {s['cpu_s_per_gb']:.2f} |" for s in resources]
    open(os.path.join(out, "run.md"), "w").write("\n".join(md) + "\n")

    cells = "".join(
        f"<tr class='{html.escape(r_['verdict'])}'><td>{html.escape(r_['area'])}</td><td>{html.escape(r_['ours'])}</td>"
        f"<td>{html.escape(r_['peer'])}</td><td class='n'>{r_['ratio']:.2f}</td><td>{html.escape(r_['verdict'])}</td>"
        f"<td>{html.escape(r_['note'])}</td></tr>" for r_ in rows)
    res_cells = "".join(f"<tr><td>{html.escape(s['step'])}</td><td class='n'>{s['max_rss_mb']:.1f}</td>"
                        f"<td class='n'>{s['cpu_s_per_gb']:.2f}</td></tr>" for s in resources)
    page = f"""<!doctype html><meta charset="utf-8"><title>src-snapshot benchmarks</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}.n{{text-align:right}}
tr.beats td:nth-child(5),tr.met td:nth-child(5){{color:#080;font-weight:bold}}tr.loses td:nth-child(5),tr.missed td:nth-child(5){{color:#b00;font-weight:bold}}</style>
<h1>src-snapshot benchmarks</h1><p>{html.escape(summary['date'])}; {machine.get('cpus', '?')} CPUs, {html.escape(str(machine.get('cpu_model', machine.get('platform', ''))))};
size {html.escape(str(summary['size']))}; ratio = peer time / our time (above 1: we are faster)</p>
<table><tr><th>area</th><th>ours</th><th>peer</th><th>ratio</th><th>verdict</th><th>note</th></tr>{cells}</table>
<h2>Our steps: memory and CPU</h2><table><tr><th>step</th><th>max RSS MB</th><th>CPU s/GB</th></tr>{res_cells}</table>
"""
    open(os.path.join(out, "run.html"), "w").write(page)


if __name__ == "__main__":
    main()
