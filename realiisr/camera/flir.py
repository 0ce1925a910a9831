"""FLIR radiometric files: FFF frames and radiometric JPEGs (an FFF split over the JPEG's ``FLIR`` APP1
segments), read to raw counts, the camera's calibration and metadata, and temperatures.

An FFF file is a header (``FFF\\0``, the creator, a version, then where its record index lies and how many
records it has) and 32-byte index entries (type, subtype, version, id, offset, length) pointing at records: type 1
holds the raw thermal image (a small header with the width and height, then 16-bit counts, PNG or TIFF), type 32
the camera information (emissivity, distances, ambient temperatures, the Planck constants, camera and lens,
capture time). Byte order is read from each record's first word (2). The layout and the raw-to-temperature
formula are the ones ExifTool's FLIR module documents, the formula also used by flirpy, flyr and Thermimage.
"""
from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Union

import numpy as np

__all__ = ["FlirFrame", "FLIR_SUFFIXES", "read_flir", "is_flir_file", "fff_from_jpeg", "counts_to_celsius"]

FLIR_SUFFIXES = (".fff",)  # radiometric JPEGs are .jpg files, told apart by their FLIR segments
_RAW_DATA, _CAMERA_INFO = 1, 32
# camera-information record: (name, byte offset, struct code); temperatures in K, humidity a fraction
_CAMERA_FIELDS = (
    ("emissivity", 0x20, "f"), ("object_distance_m", 0x24, "f"), ("reflected_temperature_k", 0x28, "f"),
    ("atmospheric_temperature_k", 0x2C, "f"), ("ir_window_temperature_k", 0x30, "f"),
    ("ir_window_transmission", 0x34, "f"), ("relative_humidity", 0x3C, "f"), ("planck_r1", 0x58, "f"),
    ("planck_b", 0x5C, "f"), ("planck_f", 0x60, "f"), ("atmospheric_alpha1", 0x70, "f"),
    ("atmospheric_alpha2", 0x74, "f"), ("atmospheric_beta1", 0x78, "f"), ("atmospheric_beta2", 0x7C, "f"),
    ("atmospheric_x", 0x80, "f"), ("planck_o", 0x308, "i"), ("planck_r2", 0x30C, "f"),
)
_CAMERA_TEXT = (("camera_model", 0xD4, 32), ("camera_part_number", 0xF4, 16), ("camera_serial_number", 0x104, 16),
                ("camera_software", 0x114, 16), ("lens_model", 0x170, 32))


@dataclass
class FlirFrame:
    """Raw ``counts`` (``[h, w]`` uint16), the camera's ``calibration`` (the Planck constants and the
    measurement parameters of :data:`_CAMERA_FIELDS`) and descriptive ``metadata`` (camera, lens, time)."""

    counts: np.ndarray
    calibration: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)

    def celsius(self) -> np.ndarray:
        """Object temperatures in °C (float64), by the camera's calibration."""
        return counts_to_celsius(self.counts, self.calibration)


def is_flir_file(path: Union[str, Path]) -> bool:
    """An FFF file, or a JPEG that carries FLIR APP1 segments (reads the first bytes / the JPEG's headers)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head == b"FFF\0":
            return True
        if head[:2] != b"\xff\xd8":
            return False
        handle.seek(0)
        return bool(_flir_segments(handle.read(1 << 20), stop_at_first=True))


def read_flir(path: Union[str, Path]) -> FlirFrame:
    """The thermal frame of an FFF file or a FLIR radiometric JPEG; ``ValueError`` naming the file otherwise."""
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == b"\xff\xd8":
        data = fff_from_jpeg(data, what=str(path))
    return _parse_fff(data, str(path))


def fff_from_jpeg(data: bytes, what: str = "JPEG") -> bytes:
    """The FFF data a radiometric JPEG carries, joined from its ``FLIR`` APP1 segments in their chunk order."""
    chunks = _flir_segments(data)
    if not chunks:
        raise ValueError(f"{what}: a JPEG without FLIR thermal data (no FLIR APP1 segment)")
    return b"".join(chunk for _, chunk in sorted(chunks))


def _flir_segments(data: bytes, stop_at_first: bool = False) -> list[tuple[int, bytes]]:
    """(chunk number, payload) of each APP1 segment that starts ``FLIR\\0`` (an 8-byte header: the tag, a
    version byte, the chunk number and the last chunk's number), up to the image data."""
    found, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no more headers
            break
        length = struct.unpack(">H", data[at + 2 : at + 4])[0]
        body = data[at + 4 : at + 2 + length]
        if marker == 0xE1 and body[:5] == b"FLIR\0" and len(body) >= 8:
            found.append((body[6], body[8:]))
            if stop_at_first:
                break
        at += 2 + length
    return found


def _parse_fff(data: bytes, what: str) -> FlirFrame:
    if data[:4] != b"FFF\0" or len(data) < 0x40:
        raise ValueError(f"{what}: not a FLIR FFF file (no 'FFF' header)")
    index, count = struct.unpack(">II", data[0x18:0x20])
    if index > len(data) or count > 4096 or index + 32 * count > len(data):  # big-endian header, as FLIR writes it
        index, count = struct.unpack("<II", data[0x18:0x20])
    records: dict[int, bytes] = {}
    for entry in range(count):
        start = index + 32 * entry
        if start + 32 > len(data):
            break
        kind, _, _, _, offset, length = struct.unpack(">HHIIII", data[start : start + 20])
        if kind and kind not in records and offset + length <= len(data):
            records[kind] = data[offset : offset + length]
    if _RAW_DATA not in records:
        raise ValueError(f"{what}: the FFF data has no raw thermal image record")
    counts = _raw_image(records[_RAW_DATA], what)
    if _CAMERA_INFO not in records:
        raise ValueError(f"{what}: the FFF data has no camera information record (no calibration for temperatures)")
    calibration, metadata = _camera_info(records[_CAMERA_INFO], what)
    metadata["creator"] = data[4:20].split(b"\0")[0].decode("ascii", "replace")
    return FlirFrame(counts, calibration, metadata)


def _order(record: bytes) -> str:
    return "<" if struct.unpack("<H", record[:2])[0] == 2 else ">"


def _raw_image(record: bytes, what: str) -> np.ndarray:
    if len(record) < 0x20:
        raise ValueError(f"{what}: the raw thermal image record is truncated ({len(record)} bytes)")
    order = _order(record)
    width, height = struct.unpack(order + "HH", record[2:6])
    payload = record[0x20:]
    if payload[:4] == b"\x89PNG" or payload[:4] in (b"II*\0", b"MM\0*"):
        from PIL import Image

        with Image.open(io.BytesIO(payload)) as image:
            counts = np.asarray(image).astype(np.uint16)
        if payload[:4] == b"\x89PNG":  # FLIR stores its PNGs' 16-bit words little-endian, against the PNG rule
            counts = counts.byteswap()
    else:
        if len(payload) < 2 * width * height:
            raise ValueError(f"{what}: the raw thermal image is truncated ({len(payload)} bytes for {width}x{height})")
        counts = np.frombuffer(payload[: 2 * width * height], dtype=order + "u2").reshape(height, width)
    if counts.shape != (height, width) or counts.size == 0:
        raise ValueError(f"{what}: the raw thermal image is {counts.shape}, its header says {width}x{height}")
    return np.ascontiguousarray(counts, dtype=np.uint16)


def _camera_info(record: bytes, what: str) -> tuple[dict[str, float], dict[str, Any]]:
    if len(record) < 0x390:
        raise ValueError(f"{what}: the camera information record is truncated ({len(record)} bytes)")
    order = _order(record)
    calibration = {name: float(struct.unpack(order + code, record[at : at + 4])[0]) for name, at, code in _CAMERA_FIELDS}
    if calibration["relative_humidity"] > 2:  # some cameras write percent
        calibration["relative_humidity"] /= 100.0
    metadata: dict[str, Any] = {name: record[at : at + size].split(b"\0")[0].decode("latin-1").strip()
                                for name, at, size in _CAMERA_TEXT}
    seconds, millis, zone = struct.unpack(order + "IIh", record[0x384:0x38E])
    if seconds:
        offset = timezone(timedelta(minutes=-zone))  # FLIR writes the zone as minutes west of UTC
        stamp = datetime.fromtimestamp(seconds, timezone.utc).astimezone(offset) + timedelta(milliseconds=millis)
        metadata["datetime_original"] = stamp.isoformat(timespec="milliseconds")
    return calibration, metadata


def _radiance(calibration: dict[str, float], kelvin: float) -> float:
    c = calibration
    return c["planck_r1"] / (c["planck_r2"] * (math.exp(c["planck_b"] / kelvin) - c["planck_f"])) - c["planck_o"]


def counts_to_celsius(counts: np.ndarray, calibration: dict[str, float]) -> np.ndarray:
    """Object temperature (°C) of raw ``counts``: the radiance of the object after removing what the
    atmosphere (its transmission from distance and humidity), an IR window and the reflected surroundings add."""
    c = calibration
    emissivity, window = c["emissivity"], c["ir_window_transmission"] or 1.0
    if not 0 < emissivity <= 1:
        raise ValueError(f"FLIR calibration: emissivity must lie in (0, 1], got {emissivity}")
    celsius_atm = c["atmospheric_temperature_k"] - 273.15
    water = c["relative_humidity"] * math.exp(1.5587 + 0.06939 * celsius_atm - 0.00027816 * celsius_atm ** 2
                                              + 0.00000068455 * celsius_atm ** 3)
    half = math.sqrt(c["object_distance_m"] / 2)
    tau = (c["atmospheric_x"] * math.exp(-half * (c["atmospheric_alpha1"] + c["atmospheric_beta1"] * math.sqrt(water)))
           + (1 - c["atmospheric_x"]) * math.exp(-half * (c["atmospheric_alpha2"] + c["atmospheric_beta2"] * math.sqrt(water))))
    reflected = _radiance(c, c["reflected_temperature_k"])
    atmosphere = _radiance(c, c["atmospheric_temperature_k"])
    window_raw = _radiance(c, c["ir_window_temperature_k"])
    obj = (counts.astype(np.float64) / emissivity / tau / window / tau
           - (1 - tau) / emissivity / tau * atmosphere
           - (1 - tau) / emissivity / tau / window / tau * atmosphere
           - (1 - window) / emissivity / tau / window * window_raw
           - (1 - emissivity) / emissivity * reflected)
    inside = c["planck_r1"] / (c["planck_r2"] * (obj + c["planck_o"])) + c["planck_f"]
    if np.any(inside <= 1) or np.any(obj + c["planck_o"] <= 0):
        raise ValueError("FLIR calibration: counts outside the camera's calibrated range (no temperature)")
    return c["planck_b"] / np.log(inside) - 273.15
