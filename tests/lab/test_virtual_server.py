"""The SCPI server framework over real loopback sockets, reached with pyvisa-py
``TCPIP::127.0.0.1::PORT::SOCKET`` resources: common commands, the error queue with
SCPI error numbers, binary blocks, the received-command log and fault injection."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
import pyvisa

from instruments.virtual.awg import Keysight33522B
from instruments.virtual.scpi import block
from instruments.virtual.server import Faults, SCPIServer


@pytest.fixture
def rm():
    manager = pyvisa.ResourceManager("@py")
    yield manager
    manager.close()


@pytest.fixture
def awg_server():
    server = SCPIServer(Keysight33522B(), lifetime=60).start()
    yield server
    server.stop()


def open_raw(rm, server, timeout_ms=2000):
    return rm.open_resource(server.resource, read_termination="\n", write_termination="\n",
                            timeout=timeout_ms)


def test_binds_loopback_ephemeral_port(awg_server):
    assert awg_server.host == "127.0.0.1" and awg_server.port > 0
    assert awg_server.resource == f"TCPIP::127.0.0.1::{awg_server.port}::SOCKET"
    assert awg_server._sock.getsockname()[0] == "127.0.0.1"


def test_common_commands_and_error_numbers(rm, awg_server):
    r = open_raw(rm, awg_server)
    assert r.query("*IDN?").startswith("Agilent Technologies,33522B,")
    assert r.query("*OPC?") == "1"
    assert r.query("SYST:ERR?") == '+0,"No error"'
    r.write("FOO:BAR 1")                       # unknown header
    r.write("SOUR1:VOLT abc")                  # not a number
    r.write("SOUR1:FUNC:ARB:SRAT 1e12")        # out of range
    r.write_raw(b"SOUR1:DATA:ARB:DAC x,#x\n")  # broken block header
    codes = [int(r.query("SYST:ERR?").split(",")[0]) for _ in range(5)]
    assert codes == [-113, -104, -222, -160, 0]
    r.write("FOO")
    r.write("*CLS")
    assert r.query("SYST:ERR?") == '+0,"No error"'
    r.close()


def test_error_queue_overflow_reports_350(rm, awg_server):
    r = open_raw(rm, awg_server)
    for _ in range(25):
        r.write("NOPE")
    replies = [r.query("SYST:ERR?") for _ in range(21)]
    assert replies[18].startswith("-113") and replies[19].startswith("-350")
    assert replies[20].startswith("+0")
    r.close()


def test_several_queries_in_one_message_and_long_forms(rm, awg_server):
    r = open_raw(rm, awg_server)
    r.write(":source1:function:arbitrary:srate 2e6;:SOUR1:FUNC:ARB:SRAT?;*OPC?")
    assert r.read() == "+2.00000000000000E+06;1"
    r.close()


def test_binary_block_with_newline_bytes_and_log(rm, awg_server):
    inst = awg_server.instrument
    r = open_raw(rm, awg_server)
    codes = np.array([10, 2570, -1, 32767, -32767, 0, 10, 13], dtype="<i2")  # 0x0a bytes
    assert b"\n" in codes.tobytes()
    r.write("FORM:BORD SWAP")
    r.write_raw(b"SOUR1:DATA:ARB:DAC wave," + block(codes.tobytes()) + b"\n")
    assert r.query("SYST:ERR?").startswith("+0")
    np.testing.assert_array_equal(inst.arbs[1]["WAVE"], codes)
    assert inst.received()[:2] == ["FORM:BORD SWAP", "SOUR1:DATA:ARB:DAC wave,<block 16 bytes>"]
    r.close()


def test_dac_codes_outside_range_refused_with_222(rm, awg_server):
    r = open_raw(rm, awg_server)
    r.write("SOUR1:DATA:ARB:DAC w,0,0,0,0,0,0,0,32768")
    assert r.query("SYST:ERR?").startswith("-222")
    assert "W" not in awg_server.instrument.arbs[1]
    r.close()


def test_fault_drop_after_n_commands_fires_once(rm, awg_server):
    awg_server.instrument.set_faults(Faults(drop_after=3))
    r = open_raw(rm, awg_server, timeout_ms=1000)
    for _ in range(3):
        assert r.query("*OPC?") == "1"
    with pytest.raises(pyvisa.VisaIOError):
        r.query("*OPC?")
        r.query("*OPC?")
    r.close()
    r2 = open_raw(rm, awg_server)  # the instrument serves new connections again
    assert r2.query("*OPC?") == "1"
    r2.close()


def test_fault_slow_replies(rm, awg_server):
    awg_server.instrument.set_faults(Faults(reply_delay=0.3))
    r = open_raw(rm, awg_server)
    t0 = time.monotonic()
    assert r.query("*OPC?") == "1"
    assert time.monotonic() - t0 >= 0.3
    r.close()


def test_fault_injected_scpi_error(rm, awg_server):
    awg_server.instrument.set_faults(Faults(errors={"FUNCtion:ARBitrary:SRATe": -222}))
    r = open_raw(rm, awg_server)
    r.write("SOUR1:FUNC:ARB:SRAT 1e6")
    assert r.query("SYST:ERR?").startswith("-222,")
    assert awg_server.instrument.ch[1].srate != 1e6
    r.close()


def test_fault_malformed_replies(rm, awg_server):
    awg_server.instrument.set_faults(Faults(malformed_replies="garbage"))
    r = open_raw(rm, awg_server)
    assert r.query("*IDN?") == "garbage"
    r.close()


def test_lifetime_stops_the_server():
    server = SCPIServer(Keysight33522B(), lifetime=0.3).start()
    port = server.port
    time.sleep(0.8)
    assert not server.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).recv(1)
