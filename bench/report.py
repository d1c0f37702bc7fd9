"""Turns bench/run.sh's run lines into the results table and a JSON file."""
import json, os, platform, subprocess, sys, datetime

runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[r["run"]] = r["data"]

base = runs["baseline_single"]["rps"]
def row(name, key, per_request=1):
    d = runs[key]
    rate = d["rps"] * per_request
    return (name, f"{rate:,.0f}", f"{d['p50_ms']:.2f}", f"{d['p99_ms']:.2f}", f"{rate / base:.2f}×", cpu_per_request(d), str(d["errors"] + d["non2xx"]))

def cpu_per_request(d):
    return f"{d['server_cpu_us_per_request']:,.1f}" if "server_cpu_us_per_request" in d else "–"

rows = [
    ("baseline: bare Kestrel parse+echo (req/s)", f"{base:,.0f}", f"{runs['baseline_single']['p50_ms']:.2f}", f"{runs['baseline_single']['p99_ms']:.2f}", "1.00×",
     cpu_per_request(runs["baseline_single"]), "0"),
    row("acked, single event, 64 sessions (req/s)", "acked_single"),
    row("acked, batch of 50 (events/s)", "acked_batch50", 50),
    row("acked, one hot session (req/s)", "acked_hot_session"),
    row(f"acked, {runs['start_sessions']['sessions']:,} sessions (req/s)", "acked_many_sessions"),
    row("buffered, single event (req/s)", "buffered_single"),
    row("buffered, batch of 50 (events/s)", "buffered_batch50", 50),
]
paced = runs["acked_paced_half"]
paced_base = runs.get("baseline_paced_half")
append = runs["append_cost"]
memory = runs["memory"]

cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
header = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({cpu}), {platform.platform()}"
print("\n" + header)
print(f"| run | rate | p50 ms | p99 ms | × baseline req/s | server CPU µs/request | errors |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
print(f"\nPaced (open-loop) at 50% of the acked maximum: target {paced['target_rps']:,.0f}/s, achieved {paced['achieved_rps']:,.0f}/s, "
      f"p50 {paced['p50_ms']:.2f} ms, p99 {paced['p99_ms']:.2f} ms, max {paced['max_ms']:.2f} ms, failures {paced['failures']}")
if paced_base:
    print(f"Same paced client, same rate, against the bare baseline: p50 {paced_base['p50_ms']:.2f} ms, p99 {paced_base['p99_ms']:.2f} ms, "
          f"max {paced_base['max_ms']:.2f} ms (the client's and machine's own floor)")
resident = runs.get("acked_paced_half_many_resident")
if resident:
    print(f"The same paced run again after the {runs['start_sessions']['sessions']:,}-session runs, those sessions still activated: "
          f"p50 {resident['p50_ms']:.2f} ms, p99 {resident['p99_ms']:.2f} ms, max {resident['max_ms']:.2f} ms, failures {resident['failures']}")
print(f"Append to a session holding {append['seeded_events']:,} events vs a new one ({append['appends']} sequential appends each): "
      f"mean {append['long_mean_ms']:.3f} vs {append['new_mean_ms']:.3f} ms (×{append['ratio_mean']:.3f}), p50 {append['long_p50_ms']:.3f} vs {append['new_p50_ms']:.3f} ms (×{append['ratio_p50']:.3f})")
print(f"Managed memory per idle activated session: {memory['bytes_per_session']:,.0f} bytes ({memory['sessions']:,} sessions, GC-measured)")

targets = {
    "single_acked_ratio": runs["acked_single"]["rps"] / base,
    "batched_events_ratio": runs["acked_batch50"]["rps"] * 50 / base,
    "p99_at_half_max_ms": paced["p99_ms"],
    "append_1m_ratio": append["ratio_mean"],
    "bytes_per_idle_session": memory["bytes_per_session"],
}
json.dump({"machine": header, "runs": runs, "targets": targets}, open(sys.argv[2], "w"), indent=2)
print(f"\nTargets: single acked ≥ 0.5× → {targets['single_acked_ratio']:.2f}×; batched ≥ 10× → {targets['batched_events_ratio']:.2f}×; "
      f"p99 at half max ≤ 20 ms → {targets['p99_at_half_max_ms']:.2f} ms; 1M append within 10% → ×{targets['append_1m_ratio']:.3f}; "
      f"≤ 4 KB per idle session → {targets['bytes_per_idle_session']:,.0f} B")
print(f"JSON: {sys.argv[2]}")
