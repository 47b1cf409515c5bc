"""The real binary with synthetic and http_json sources (against a local HTTP server)
across a UTC hour boundary: segment files checked line by line."""
import time

from harness import Agent, HttpSensor, check, check_segments_exact

HOUR_MS = 3_600_000


def main():
    sensor = HttpSensor()
    try:
        config = f"""
[segment]
max_readings = 100000

[[source]]
name = "synth"
type = "synthetic"
interval = "100ms"
rate = 50
payload_bytes = 150

[[source]]
name = "meter"
type = "http_json"
interval = "200ms"
timeout = "150ms"
url = "{sensor.url}/json"
"""
        # Start the agent's wall clock 3 s before the next UTC hour.
        now_ms = int(time.time() * 1000)
        offset = (now_ms // HOUR_MS + 1) * HOUR_MS - 3000 - now_ms
        agent = Agent(config, env={"GRANARY_TEST_CLOCK_OFFSET_MS": str(offset)})
        agent.start()
        agent.wait_ready()
        time.sleep(6)
        t0 = time.time()
        rc = agent.stop()
        check(rc == 0, f"SIGTERM exit code {rc}")
        check(time.time() - t0 < 5, "SIGTERM took 5 s or more")

        for source in ("synth", "meter"):
            last = check_segments_exact(agent, source)
            check(last >= (50 if source == "synth" else 15), f"{source}: only {last} readings")
            files = [n for n in agent.segments() if f"-{source}-" in n]
            check(len(files) >= 2, f"{source}: expected a segment each side of the hour, got {files}")
            for name in files:
                # h017-synth-20261122T20-123.jsonl.gz: the UTC hour of the first reading
                stamp = name.split("-")[2]
                lines = agent.segment_lines(name)
                check(lines, f"{name} is empty")
                check(int(name.rsplit("-", 1)[1].split(".")[0]) == lines[0]["seq"],
                      f"{name}: first_seq in the name is not the first line's seq")
                hours = {l["ts"] // HOUR_MS for l in lines}
                check(len(hours) == 1, f"{name} spans hours {hours}")
                t = time.gmtime(lines[0]["ts"] / 1000)
                check(stamp == time.strftime("%Y%m%dT%H", t), f"{name}: hour {stamp} != {t}")
                prev = None
                for l in lines:
                    check(set(l) >= {"device", "source", "seq", "ts", "data"}, f"fields of {l}")
                    check(l["device"] == "h017" and l["source"] == source, f"names in {l}")
                    check(isinstance(l["data"], dict), f"data is not an object: {l}")
                    check(prev is None or l["seq"] == prev + 1, f"{name}: seq jump after {prev}")
                    prev = l["seq"]
                    if source == "meter":
                        check("power" in l["data"] or l["data"], f"meter data {l['data']}")
        status = agent.cli("status", "--json", check_rc=0)
        check('"state":"stopped"' in status.stdout, f"status after stop: {status.stdout}")
        print("e2e: ok")
    finally:
        sensor.close()


if __name__ == "__main__":
    main()
