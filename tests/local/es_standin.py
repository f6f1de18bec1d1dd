"""A stand-in for the part of Elasticsearch 8's REST API the backup scripts call
(stackctl::stacks::backup_scripts::elasticsearch_dump and _restore): not
Elasticsearch, which Debian does not package, but its documented behaviour for
these calls, so that the scripts' requests, their order and their checks run
against something that refuses what Elasticsearch refuses.

Modelled on the 8.19 API specification (elastic/elasticsearch-specification,
branch 8.19: snapshot/create_repository, snapshot/create, snapshot/get,
snapshot/restore, snapshot/delete, indices/delete, indices/delete_data_stream,
cat/indices) and the "Restore a snapshot" docs:
- a fs repository's location must lie under path.repo; registering verifies
  it by writing a file there (and removing it);
- a snapshot name in use is refused; a snapshot's state is SUCCESS;
- a restore refuses an open index of the same name ("cannot restore index [..]
  because an open index with same name already exists in the cluster");
  restoring a feature state replaces that feature's indices; without
  include_global_state no feature state is restored unless named;
- snapshots live in the repository's files only: a restore reads them back from
  disk, so a repository copied away and back must hold them whole.

Usage: es_standin.py PORT PATH_REPO PASSWORD_FILE. Test-only calls: PUT /<index>
{"docs": [...], "feature": NAME} sets an index; GET /_standin/state prints
every index with its docs.
"""

import base64
import json
import os
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PORT, PATH_REPO, PASSWORD_FILE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(PASSWORD_FILE) as f:
    PASSWORD = f.read()

# name -> {"docs": [...], "feature": str|None, "stream": str|None}
INDICES = {}
STREAMS = {}  # data stream -> [backing index names]
REPOS = {}  # repository -> location


def error(status, kind, reason):
    return status, {"error": {"type": kind, "reason": reason}, "status": status}


def snapshot_files(location):
    """Every snapshot of a repository, as its files on disk say."""
    out = {}
    path = os.path.join(location, "index.json")
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for name in json.load(f)["snapshots"]:
            with open(os.path.join(location, f"snap-{name}.json")) as g:
                out[name] = json.load(g)
    return out


def write_index(location, names):
    with open(os.path.join(location, "index.json"), "w") as f:
        json.dump({"snapshots": sorted(names)}, f)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        # Compact, as Elasticsearch answers without `?pretty`.
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def text(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self, method):
        auth = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"elastic:{PASSWORD}".encode()).decode()
        if auth != expected:
            return self.reply(*error(401, "security_exception", "unable to authenticate user [elastic]"))
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        try:
            result = self.route(method, parts, query, body)
        except KeyError as e:
            result = error(404, "resource_not_found_exception", f"{e} missing")
        if isinstance(result[1], str):
            return self.text(*result)
        return self.reply(*result)

    def route(self, method, parts, query, body):
        if parts == ["_standin", "state"]:
            return 200, {"indices": INDICES, "streams": STREAMS}
        if parts == ["_cat", "indices"] and method == "GET":
            assert query.get("bytes") == "b" and query.get("h") == "pri.store.size"
            return 200, "".join(f"{len(json.dumps(i['docs']))}\n" for i in INDICES.values())
        if parts and parts[0] == "_snapshot":
            return self.snapshot(method, parts[1:], query, body)
        if parts and parts[0] == "_data_stream" and method == "DELETE":
            name = parts[1]
            if name not in STREAMS:
                return error(404, "resource_not_found_exception", f"data_stream [{name}] missing")
            for index in STREAMS.pop(name):
                INDICES.pop(index, None)
            return 200, {"acknowledged": True}
        if len(parts) == 1 and method == "PUT":
            INDICES[parts[0]] = {"docs": body["docs"], "feature": body.get("feature"), "stream": body.get("stream")}
            backing = STREAMS.setdefault(body["stream"], []) if body.get("stream") else []
            if body.get("stream") and parts[0] not in backing:
                backing.append(parts[0])
            return 200, {"acknowledged": True}
        if len(parts) == 1 and method == "DELETE":
            if "*" in parts[0]:
                return error(400, "illegal_argument_exception", "Wildcard expressions or all indices are not allowed")
            if parts[0] not in INDICES:
                if query.get("ignore_unavailable") == "true":
                    return 200, {"acknowledged": True}
                return error(404, "index_not_found_exception", f"no such index [{parts[0]}]")
            if INDICES[parts[0]]["stream"]:
                return error(400, "illegal_argument_exception", "index is the write index of a data stream")
            INDICES.pop(parts[0])
            return 200, {"acknowledged": True}
        return error(400, "illegal_argument_exception", f"no handler for {method} {parts}")

    def snapshot(self, method, parts, query, body):
        repo = parts[0]
        if len(parts) == 1:
            if method == "PUT":
                location = body["settings"]["location"]
                real = os.path.realpath(location)
                if body.get("type") != "fs" or not real.startswith(os.path.realpath(PATH_REPO) + os.sep) and real != os.path.realpath(PATH_REPO):
                    return error(500, "repository_exception", f"[{repo}] location [{location}] doesn't match any of the locations specified by path.repo")
                probe = os.path.join(location, f"tests-{uuid.uuid4().hex}")
                os.mkdir(probe)
                open(os.path.join(probe, "master.dat"), "w").close()
                os.remove(os.path.join(probe, "master.dat"))
                os.rmdir(probe)
                REPOS[repo] = location
                return 200, {"acknowledged": True}
            if method == "DELETE":
                REPOS.pop(repo)
                return 200, {"acknowledged": True}
        location = REPOS[repo]
        snaps = snapshot_files(location)
        name = parts[1]
        if len(parts) == 2 and method == "PUT":
            assert query.get("wait_for_completion") == "true"
            if name in snaps:
                return error(400, "invalid_snapshot_name_exception", f"[{repo}:{name}] snapshot with the same name already exists")
            everything = body.get("include_global_state", True)
            taken = {
                "snapshot": name,
                "indices": list(INDICES),
                "data_streams": list(STREAMS),
                "streams": STREAMS,
                "docs": {n: i for n, i in INDICES.items() if everything or not i["feature"]},
                "feature_states": sorted(
                    [{"feature_name": f, "indices": [n for n, i in INDICES.items() if i["feature"] == f]}
                     for f in {i["feature"] for i in INDICES.values() if i["feature"]}],
                    key=lambda x: x["feature_name"]) if everything else [],
                "state": "SUCCESS",
            }
            with open(os.path.join(location, f"snap-{name}.json"), "w") as f:
                json.dump(taken, f)
            write_index(location, list(snaps) + [name])
            shards = {"total": len(INDICES), "failed": 0, "successful": len(INDICES)}
            return 200, {"snapshot": {"snapshot": name, "state": "SUCCESS", "shards": shards}}
        if name not in snaps:
            return error(404, "snapshot_missing_exception", f"[{repo}:{name}] is missing")
        snap = snaps[name]
        if len(parts) == 2 and method == "GET":
            public = {k: snap[k] for k in ("snapshot", "indices", "data_streams", "feature_states", "state")}
            return 200, {"snapshots": [public]}
        if len(parts) == 2 and method == "DELETE":
            os.remove(os.path.join(location, f"snap-{name}.json"))
            write_index(location, [n for n in snaps if n != name])
            return 200, {"acknowledged": True}
        if len(parts) == 3 and parts[2] == "_restore" and method == "POST":
            # `*` matches every name but system indices' (a feature's), dot-prefixed
            # ones too; `-.*` takes those out.
            pattern = body.get("indices")
            assert pattern in ("*", "*,-.*"), pattern
            features = body.get("feature_states")
            if features is None:
                features = [f["feature_name"] for f in snap["feature_states"]] if body.get("include_global_state") else []
            features = [f for f in features if f != "none"]
            regular = [n for n, i in snap["docs"].items() if not i["feature"] and not i["stream"]
                       and (pattern == "*" or not n.startswith("."))]
            regular += [n for s in snap["data_streams"] if not s.startswith(".") for n in snap["streams"][s]]
            for n in regular:
                if n in INDICES:
                    return error(500, "snapshot_restore_exception", f"[{repo}:{name}] cannot restore index [{n}] because an open index with same name already exists in the cluster")
            restored = []
            for f in features:
                for n in [n for n, i in INDICES.items() if i["feature"] == f]:
                    INDICES.pop(n)
                for n, i in snap["docs"].items():
                    if i["feature"] == f:
                        INDICES[n] = i
                        restored.append(n)
            for n in regular:
                INDICES[n] = snap["docs"][n]
                restored.append(n)
            for s in snap["data_streams"]:
                if not s.startswith("."):
                    STREAMS[s] = snap["streams"][s]
            shards = {"total": len(restored), "failed": 0, "successful": len(restored)}
            return 200, {"snapshot": {"snapshot": name, "indices": restored, "shards": shards}}
        return error(400, "illegal_argument_exception", f"no handler for {method} {parts}")

    def do_GET(self):
        self.handle_any("GET")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
