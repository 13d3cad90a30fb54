"""The second example plugin, botrunner.linktitle, against Synapse: a link in a message is
answered with the page's title (curl spawned, its facts read as JSON), and a link posted
again is answered from the plugin's database without a second fetch."""
import http.server
import threading

import pytest

from botworker import ROOT, start_in_room

LINKTITLE = (str(ROOT / "build" / "plugins" / "linktitle.mbp"), "botrunner.linktitle")


class Pages(http.server.BaseHTTPRequestHandler):
    hits = {}

    def do_GET(self):
        Pages.hits[self.path] = Pages.hits.get(self.path, 0) + 1
        if self.path == "/page":
            body = ("<html><head><meta charset=utf-8>\n<title>\n  A page \u00e9  about\n"
                    "  bots </title></head><body>x</body></html>").encode()
            ctype = "text/html; charset=utf-8"
        elif self.path == "/data":
            body, ctype = b"\x00\x01binary", "application/octet-stream"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def pages():
    Pages.hits = {}
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_titles_of_links(synapse, make_person, make_bot, pages):
    alice = make_person(synapse)

    def make(hs, rooms, **kw):
        return make_bot(hs, rooms, plugin=LINKTITLE, prefix="!lt", **kw)
    bot, room = start_in_room(synapse, alice, make)
    first = alice.send(room, f"look at this: {pages}/page!")
    reply = alice.wait_message(room, bot.user_id, reply_to=first, guard=bot.assert_running)
    assert reply["content"]["msgtype"] == "m.notice"
    assert reply["content"]["body"] == "Title: A page \u00e9 about bots"
    again = alice.send(room, f"{pages}/page")
    reply = alice.wait_message(room, bot.user_id, reply_to=again, guard=bot.assert_running)
    assert reply["content"]["body"] == "Title: A page \u00e9 about bots"
    assert Pages.hits["/page"] == 1, "the second answer came from the database"
    # Not HTML, or not there: no answer, and the bot goes on.
    quiet = [alice.send(room, f"{pages}/data"), alice.send(room, f"{pages}/missing")]
    alice.drain(3)
    answered = [ev for _, ev in alice.events if ev.get("sender") == bot.user_id and
                ev["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
                in quiet]
    assert not answered
    assert Pages.hits.get("/data") == 1
