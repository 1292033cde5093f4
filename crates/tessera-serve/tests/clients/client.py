"""One protocol client for the parity test (crates/tessera-serve/tests/it/parity.rs).

    python client.py http|pg|flight HOST:PORT

Reads one JSON request per line on stdin — {"principal", "token", "purpose", "sql"} —
runs the SQL through that protocol's real client, and answers one JSON line on stdout:
{"rows": [[text, ...], ...]} or {"error": "<the server's message>"}.

Values are rendered as the engine's sqllogictest output renders Arrow values (NULL,
(empty), ISO dates, decimals as written), the same way for every protocol, so a
difference between protocols is a difference in what the server sent.
"""

import base64
import datetime
import decimal
import json
import sys
import urllib.error
import urllib.request


def render(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
            return v.isoformat() + "Z"
        return v.isoformat()
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, float):
        r = repr(v)
        return r[:-2] if r.endswith(".0") else r
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(render(x) for x in v) + "]"
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    s = str(v)
    return s if s != "" else "(empty)"


def rows_of_table(table):
    columns = [c.to_pylist() for c in table.columns]
    return [[render(col[i]) for col in columns] for i in range(table.num_rows)]


class Http:
    def __init__(self, address):
        self.base = "http://" + address

    def run(self, req):
        import pyarrow.ipc

        body = json.dumps({"sql": req["sql"], "format": "arrow"}).encode()
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + req["token"]}
        if req.get("purpose"):
            headers["Tessera-Purpose"] = req["purpose"]
        request = urllib.request.Request(self.base + "/api/v1/query", data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                data = response.read()
        except urllib.error.HTTPError as e:
            return {"error": json.loads(e.read())["error"]["message"]}
        table = pyarrow.ipc.open_stream(data).read_all()
        return {"rows": rows_of_table(table)}


class Pg:
    def __init__(self, address):
        self.host, self.port = address.rsplit(":", 1)
        self.connections = {}

    def connection(self, req):
        import psycopg

        key = (req["principal"], req.get("purpose"))
        if key not in self.connections:
            options = "-c tessera.purpose=" + req["purpose"] if req.get("purpose") else None
            self.connections[key] = psycopg.connect(
                host=self.host,
                port=self.port,
                user=req["principal"],
                password=req["token"],
                dbname="mesh",
                options=options,
                autocommit=True,
            )
        return self.connections[key]

    def run(self, req):
        import psycopg

        try:
            with self.connection(req).cursor() as cur:
                cur.execute(req["sql"])
                rows = cur.fetchall() if cur.description is not None else []
        except psycopg.Error as e:
            return {"error": e.diag.message_primary or str(e)}
        return {"rows": [[render(v) for v in row] for row in rows]}


class Flight:
    def __init__(self, address):
        self.uri = "grpc://" + address
        self.connections = {}

    def connection(self, req):
        import adbc_driver_flightsql.dbapi as flightsql

        key = (req["principal"], req.get("purpose"))
        if key not in self.connections:
            kwargs = {"username": req["principal"], "password": req["token"]}
            if req.get("purpose"):
                kwargs["adbc.flight.sql.rpc.call_header.tessera-purpose"] = req["purpose"]
            self.connections[key] = flightsql.connect(self.uri, db_kwargs=kwargs, autocommit=True)
        return self.connections[key]

    def run(self, req):
        import adbc_driver_manager

        try:
            cur = self.connection(req).cursor()
            try:
                cur.execute(req["sql"])
                table = cur.fetch_arrow_table()
            finally:
                cur.close()
        except adbc_driver_manager.Error as e:
            return {"error": flight_message(e)}
        return {"rows": rows_of_table(table)}


def flight_message(e):
    """The server's message, out of the ADBC error that wraps it."""
    for key, value in getattr(e, "details", None) or []:
        if isinstance(key, bytes):
            key = key.decode()
        if key == "tessera-error-bin":
            return json.loads(bytes(value))["message"]
    return str(e)


def main():
    protocol, address = sys.argv[1], sys.argv[2]
    client = {"http": Http, "pg": Pg, "flight": Flight}[protocol](address)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            answer = client.run(req)
        except Exception as e:  # the harness shows it; the test fails on it
            answer = {"error": "CLIENT FAILURE: %s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
