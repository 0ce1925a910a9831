"""FLIR files: the real FFF frame's counts and calibration as ExifTool reads them, the raw-to-temperature
formula, radiometric JPEGs, and the upscale of a real frame to temperatures whose block means are the input's."""
from __future__ import annotations

import io
import json
import re
import struct

import numpy as np
import pytest
from PIL import Image

from realiisr.camera.flir import _radiance, counts_to_celsius, fff_from_jpeg, is_flir_file, read_flir
from realiisr.cli import main


@pytest.fixture(scope="module")
def formats(shared_dir):
    path = shared_dir / "data" / "camera-formats"
    if not (path / "flirpy_frame_000000.fff").is_file():
        pytest.skip("../shared/data/camera-formats is not present")
    return path


def _exiftool(path) -> dict[str, str]:
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in path.read_text().splitlines() if ":" in line)}


def test_the_fff_frame_reads_as_exiftool_reads_it(formats):
    frame = read_flir(formats / "flirpy_frame_000000.fff")
    truth = _exiftool(formats / "flirpy_frame_000000.exiftool.txt")
    assert frame.counts.shape == (int(truth["Raw Thermal Image Height"]), int(truth["Raw Thermal Image Width"]))
    assert frame.counts.dtype == np.uint16 and 2000 < frame.counts.min() < frame.counts.max() < 4000
    c = frame.calibration
    for key, name in [("emissivity", "Emissivity"), ("planck_r1", "Planck R1"), ("planck_b", "Planck B"),
                      ("planck_f", "Planck F"), ("planck_o", "Planck O"), ("planck_r2", "Planck R2"),
                      ("atmospheric_alpha1", "Atmospheric Trans Alpha 1"), ("atmospheric_beta2", "Atmospheric Trans Beta 2"),
                      ("atmospheric_x", "Atmospheric Trans X"), ("ir_window_transmission", "IR Window Transmission")]:
        assert c[key] == pytest.approx(float(truth[name]), rel=1e-3), key
    assert c["object_distance_m"] == pytest.approx(float(truth["Object Distance"].split()[0]))
    assert c["reflected_temperature_k"] - 273.15 == pytest.approx(float(truth["Reflected Apparent Temperature"].split()[0]), abs=0.05)
    assert c["ir_window_temperature_k"] - 273.15 == pytest.approx(float(truth["IR Window Temperature"].split()[0]), abs=0.05)
    assert 100 * c["relative_humidity"] == pytest.approx(float(truth["Relative Humidity"].split()[0]), abs=0.05)
    m = frame.metadata
    assert (m["camera_model"], m["camera_part_number"], m["camera_serial_number"], m["camera_software"]) == (
        truth["Camera Model"], truth["Camera Part Number"], truth["Camera Serial Number"], truth["Camera Software"])
    date, zone = re.match(r"(\d+):(\d+):(\d+) ([\d:.]+)([+-]\d\d:\d\d)", truth["Date/Time Original"]).group(0, 5)
    assert m["datetime_original"] == "2018-11-05T12:14:43.084" + zone
    assert abs(int(np.median(frame.counts)) - int(truth["Raw Value Median"])) < 40  # the camera's own statistic
    celsius = frame.celsius()
    assert -10 < celsius.min() < celsius.max() < 30  # an outdoor November scene, 20 °C assumed surroundings


def test_the_temperature_formula_inverts_the_planck_radiance():
    """With emissivity 1, no distance and no window, counts are the Planck radiance of the object itself; with
    emissivity 0.9 they mix in a tenth of the surroundings' radiance, which the formula takes out again."""
    c = {"emissivity": 1.0, "object_distance_m": 0.0, "reflected_temperature_k": 293.15,
         "atmospheric_temperature_k": 293.15, "ir_window_temperature_k": 293.15, "ir_window_transmission": 1.0,
         "relative_humidity": 0.5, "planck_r1": 364058.0, "planck_b": 1428.0, "planck_f": 1.0, "planck_o": -228.0,
         "planck_r2": 1.0, "atmospheric_alpha1": 0.006569, "atmospheric_alpha2": 0.01262,
         "atmospheric_beta1": -0.002276, "atmospheric_beta2": -0.00667, "atmospheric_x": 1.9}
    kelvin = np.array([250.0, 273.15, 300.0, 350.0])
    counts = np.array([_radiance(c, k) for k in kelvin])
    np.testing.assert_allclose(counts_to_celsius(counts, c), kelvin - 273.15, atol=1e-9)
    grey = dict(c, emissivity=0.9, reflected_temperature_k=320.0)
    mixed = 0.9 * counts + 0.1 * _radiance(grey, 320.0)
    np.testing.assert_allclose(counts_to_celsius(mixed, grey), kelvin - 273.15, atol=1e-9)
    assert not np.allclose(counts_to_celsius(mixed, c), kelvin - 273.15, atol=0.5)  # ignoring it is off
    with pytest.raises(ValueError, match="emissivity must lie in"):
        counts_to_celsius(counts, dict(c, emissivity=0.0))


def _jpeg_with(fff: bytes, chunk: int = 60000) -> bytes:
    """A radiometric JPEG: a visible image with the FFF split into FLIR APP1 segments after SOI."""
    visible = io.BytesIO()
    Image.new("RGB", (32, 24), (90, 40, 160)).save(visible, "JPEG")
    parts = [fff[i : i + chunk] for i in range(0, len(fff), chunk)]
    segments = b"".join(b"\xff\xe1" + struct.pack(">H", 2 + 8 + len(p)) + b"FLIR\0\x01" + bytes([n, len(parts) - 1]) + p
                        for n, p in enumerate(parts))
    data = visible.getvalue()
    return data[:2] + segments + data[2:]


def test_a_radiometric_jpeg_carries_the_same_frame(formats, tmp_path):
    fff = (formats / "flirpy_frame_000000.fff").read_bytes()
    jpeg = tmp_path / "IR_0001.jpg"
    jpeg.write_bytes(_jpeg_with(fff))
    assert is_flir_file(jpeg) and fff_from_jpeg(jpeg.read_bytes()) == fff
    a, b = read_flir(jpeg), read_flir(formats / "flirpy_frame_000000.fff")
    np.testing.assert_array_equal(a.counts, b.counts)
    assert a.calibration == b.calibration
    plain = tmp_path / "holiday.jpg"
    Image.new("RGB", (8, 8)).save(plain)
    assert not is_flir_file(plain)
    with pytest.raises(ValueError, match="holiday.jpg: a JPEG without FLIR thermal data"):
        read_flir(plain)


def _small_fff(source: bytes, rows: slice, cols: slice) -> bytes:
    """The real frame cut to a crop: its raw record rewritten, the camera record kept byte for byte."""
    entries = {}
    for n in range(struct.unpack(">I", source[0x1C:0x20])[0]):
        kind, _, _, _, offset, length = struct.unpack(">HHIIII", source[0x40 + 32 * n : 0x40 + 32 * n + 20])
        if kind:
            entries[kind] = source[offset : offset + length]
    raw = entries[1]
    counts = np.frombuffer(raw[0x20:], dtype="<u2")[: 640 * 512].reshape(512, 640)[rows, cols]
    header = bytearray(raw[:0x20])
    header[2:6] = struct.pack("<HH", counts.shape[1], counts.shape[0])
    records = [(1, bytes(header) + counts.astype("<u2").tobytes()), (32, entries[32])]
    out = bytearray(source[:0x40])
    out[0x1C:0x20] = struct.pack(">I", len(records))
    at = 0x40 + 32 * len(records)
    body = b""
    for kind, data in records:
        out += struct.pack(">HHIIII", kind, 1, 100, 1, at + len(body), len(data)) + bytes(12)
        body += data
    return bytes(out) + body


def test_a_real_fff_frame_upscales_to_temperatures_with_its_block_means(formats, tmp_path):
    """The bar: ×4 temperatures whose 4×4 block means match the input's within 0.1 K (shipped model; a 40×48
    crop of the real frame, its real calibration), a palette preview and the camera's metadata beside them."""
    (tmp_path / "in").mkdir()
    small = tmp_path / "in" / "frame.fff"
    small.write_bytes(_small_fff((formats / "flirpy_frame_000000.fff").read_bytes(), slice(200, 240), slice(300, 348)))
    assert main(["upscale", str(small), "-o", str(tmp_path / "out")]) == 0
    source = read_flir(small).celsius()
    tiff = Image.open(tmp_path / "out" / "frame.tiff")
    assert tiff.mode == "F" and tiff.size == (192, 160)
    celsius = np.asarray(tiff, dtype=np.float64)
    assert np.abs(celsius.reshape(40, 4, 48, 4).mean(axis=(1, 3)) - source).max() < 0.1
    sidecar = json.loads((tmp_path / "out" / "frame.json").read_text())
    assert sidecar["camera"]["camera_model"] == "Duo Pro R" and sidecar["unit"] == "C"
    assert json.loads(tiff.tag_v2[270])["calibration"]["planck_r1"] == 364058.0
    assert Image.open(tmp_path / "out" / "frame.preview.png").size == (192, 160)
    assert main(["upscale", str(small), "-o", str(tmp_path / "kelvin"), "--unit", "K"]) == 0
    kelvin = np.asarray(Image.open(tmp_path / "kelvin" / "frame.tiff"), dtype=np.float64)
    np.testing.assert_allclose(kelvin - 273.15, celsius, atol=1e-3)


def test_broken_flir_files_get_named_errors(formats, tmp_path, capsys):
    fff = (formats / "flirpy_frame_000000.fff").read_bytes()
    no_raw = bytearray(fff)
    no_raw[0x40:0x42] = b"\0\0"  # the raw-image entry unused
    (tmp_path / "no_raw.fff").write_bytes(bytes(no_raw))
    with pytest.raises(ValueError, match="no_raw.fff: the FFF data has no raw thermal image record"):
        read_flir(tmp_path / "no_raw.fff")
    (tmp_path / "cut.fff").write_bytes(fff[:0x300])
    assert main(["upscale", str(tmp_path / "cut.fff"), "-o", str(tmp_path / "out")]) == 1
    assert "cut.fff" in capsys.readouterr().err


def test_the_radiometric_tiff_keeps_its_counts(formats):
    """flirpy's radiometric TIFF (raw counts 6743–7077, no calibration): a 16-bit frame whose 4×4 output block
    means are its counts within rounding (shipped model, a 40² crop)."""
    import realiisr

    counts = np.asarray(Image.open(formats / "flirpy_example_radiometric.tiff"))[100:140, 200:240]
    assert counts.dtype == np.uint16
    out = realiisr.build("real_iisr_x4_flir", pretrained=True).eval().upscale(counts)
    assert out.dtype == np.uint16 and out.shape == (160, 160)
    assert np.abs(out.astype(np.float64).reshape(40, 4, 40, 4).mean(axis=(1, 3)) - counts).max() <= 0.5 + 1e-9
