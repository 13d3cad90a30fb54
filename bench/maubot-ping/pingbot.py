"""The benchmark's maubot plugin (bench/compare.py): `!echo ping` answers "pong (took N ms)"
as a notice replying to it, as botrunner's echo plugin does, so both sides answer the same
pings with the same event. Two more commands for the upload figure: `!echo upload PATH`
reads the file into memory and uploads it with the client's upload_media(), as plugins
usually do, and `!echo upload-stream PATH` streams it in 64 KiB pieces; each answers with
the content URI and the time it took."""
import os
import time

from maubot import MessageEvent, Plugin
from maubot.handlers import command

# The piece size of the streamed upload: small next to the file, so memory need not follow it.
STREAM_CHUNK = 64 * 1024


async def pieces(path):
    with open(path, "rb") as f:
        while chunk := f.read(STREAM_CHUNK):
            yield chunk


class PingBot(Plugin):
    @command.new("echo")
    @command.argument("rest", pass_raw=True, required=False)
    async def echo(self, evt: MessageEvent, rest: str) -> None:
        words = (rest or "").split(maxsplit=1)
        if words == ["ping"]:
            # The echo plugin's answer, its latency from the event's timestamp included.
            took = max(0, int(time.time() * 1000) - evt.timestamp)
            await evt.reply(f"pong (took {took} ms)", markdown=False)
        elif len(words) == 2 and words[0] in ("upload", "upload-stream"):
            path = words[1]
            began = time.monotonic()
            if words[0] == "upload":
                with open(path, "rb") as f:
                    data = f.read()
                uri = await self.client.upload_media(
                    data, mime_type="application/octet-stream", filename="upload.bin")
                del data
            else:
                uri = await self.client.upload_media(
                    pieces(path), mime_type="application/octet-stream", filename="upload.bin",
                    size=os.path.getsize(path))
            await evt.reply(f"uploaded {uri} in {time.monotonic() - began:.2f} s",
                            markdown=False)
