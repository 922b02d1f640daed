"""cocotb memory models of the block's stream units: a read client that answers read requests
from a :class:`~isosceles.golden.memory_image.MemoryImage`, and a write client that writes the
words of write requests into one."""

import random

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from isosceles.tb.streams import StreamDriver, StreamMonitor, tick

__all__ = ["ReadMemory", "WriteMemory"]


class ReadMemory:
    """Answers the read requests of stream ``req`` on stream ``word``, in order, after a random
    latency of 0 to ``latency`` cycles, with random idle cycles between words; every request is
    recorded in ``requests`` (``{addr, words}``) and must lie inside ``image``."""

    def __init__(self, dut, ctx, image, *, req="req", word="word", latency=8, idle=0.3,
                 backpressure=0.3):
        self.image, self._dut, self._latency = image, dut, latency
        self._rng = random.Random(f"{ctx.seed}/read/{req}")
        self._requests = StreamMonitor(dut, req, ctx, backpressure=backpressure)
        self._words = StreamDriver(dut, word, ctx, idle=idle)
        self.requests = self._requests.received
        self.words_sent = 0
        self._task = cocotb.start_soon(self._serve())

    async def _serve(self):
        served = 0
        while True:
            await self._requests.receive(served + 1, timeout_cycles=1 << 40)
            request = self.requests[served]
            served += 1
            if self._latency:
                await tick(self._dut, self._rng.randrange(self._latency + 1))
            assert request["addr"] % 4 == 0, f"read request at unaligned address {request}"
            words = self.image.read(request["addr"], request["words"], np.uint32,
                                    f"read request {request}")
            await self._words.send([{"": int(word)} for word in words])
            self.words_sent += len(words)

    def check(self):
        """Raise any error the model or the request monitor found."""
        self._requests.check_rules()
        if self._task.done():
            self._task.result()

    def requested_bytes(self, since=0):
        return 4 * sum(request["words"] for request in self.requests[since:])


class WriteMemory:
    """Takes write requests on stream ``req`` and their words on stream ``word``, both with
    random backpressure; :meth:`commit` writes the words into ``image``, request by request,
    in order. Every cycle it also checks that no word is offered beyond the requests offered
    so far (a word may come before its request is taken, as AXI allows, never before it is
    offered)."""

    def __init__(self, dut, ctx, image, *, req="req", word="word", backpressure=0.3):
        self.image = image
        self._requests = StreamMonitor(dut, req, ctx, backpressure=backpressure)
        self._words = StreamMonitor(dut, word, ctx, backpressure=backpressure)
        self.requests, self.words = self._requests.received, self._words.received
        self._committed = (0, 0)
        self._order = cocotb.start_soon(self._watch_order(dut, ctx, req, word))

    async def _watch_order(self, dut, ctx, req, word):
        req_valid, req_ready, req_payload, word_valid, word_ready = (
            getattr(dut, f"{port}__{name}") for port, name in (
                (req, "valid"), (req, "ready"), (req, "payload"), (word, "valid"),
                (word, "ready")))
        requested = sent = 0
        while True:
            await ReadOnly()
            offered = ctx.unpack(req, int(req_payload.value))["words"] if int(
                req_valid.value) else 0
            if int(word_valid.value):
                assert sent < requested + offered, (
                    f"word {sent} offered before its write request ({requested} words "
                    "requested)")
                sent += int(word_ready.value)
            if int(req_valid.value) and int(req_ready.value):
                requested += offered
            await RisingEdge(dut.clk)

    def commit(self):
        """Write every request received since the last commit; returns those requests. Fails
        if the words received do not exactly cover them."""
        self._requests.check_rules()
        self._words.check_rules()
        if self._order.done():
            self._order.result()
        first, at = self._committed
        new = self.requests[first:]
        for request in new:
            assert request["addr"] % 4 == 0, f"write request at unaligned address {request}"
            assert request["words"] > 0, f"empty write request {request}"
            words = [word[""] for word in self.words[at:at + request["words"]]]
            assert len(words) == request["words"], (
                f"write request {request} has only {len(words)} words (requests {new}, "
                f"{len(self.words) - self._committed[1]} words)")
            self.image.write(request["addr"], np.array(words, dtype=np.uint32))
            at += request["words"]
        assert at == len(self.words), (
            f"{len(self.words) - at} words written beyond the write requests {new}")
        self._committed = (len(self.requests), at)
        return new
