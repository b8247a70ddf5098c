"""ACK codes, repeats, failures: what the sender hears and what is (not) written."""

from __future__ import annotations

import asyncio

from ingestion.hl7v2.receive import Receiver
from tests.ingestion.hl7v2 import corpus
from tests.ingestion.hl7v2.support import counts, resources, segment

ALL = ("Patient", "Encounter", "ServiceRequest", "DiagnosticReport", "Observation", "Specimen",
       "Provenance", "Binary")  # fmt: skip


async def test_accepted_ack(receiver: Receiver) -> None:
    received = await receiver.receive(corpus.oru("ACK1").encode())
    msh, msa = segment(received.ack, "MSH"), segment(received.ack, "MSA")
    assert msa[1:3] == ["AA", "ACK1"]
    assert msh[2:6] == ["MEDREC", "HOSP", "LABSYS", "GOODHEALTH"]  # sender and receiver swapped
    assert msh[8] == "ACK^R01^ACK" and msh[11] == "2.5.1"
    assert b"ERR" not in (received.ack or b"")


async def test_a_repeat_is_acknowledged_and_not_applied_again(receiver: Receiver) -> None:
    raw = corpus.oru("DUP1").encode()
    first = await receiver.receive(raw)
    second = await receiver.receive(raw)
    assert (first.outcome, first.duplicate) == ("A", False)
    assert (second.outcome, second.duplicate) == ("A", True)
    assert segment(second.ack, "MSA")[1:3] == ["AA", "DUP1"]
    assert (await counts(receiver, "Observation"))["Observation"] == 10
    assert await receiver.store.count_applied() == 1


async def test_concurrent_repeats_apply_once(receiver: Receiver) -> None:
    raw = corpus.oru("RACE1").encode()
    results = await asyncio.gather(*(receiver.receive(raw) for _ in range(4)))
    assert all(r.outcome == "A" for r in results), [str(r.error) for r in results]
    assert sum(not r.duplicate for r in results) == 1
    assert await counts(receiver, "DiagnosticReport", "Observation", "Provenance") == {
        "DiagnosticReport": 1, "Observation": 10, "Provenance": 1,
    }  # fmt: skip


async def test_the_same_control_id_from_another_sender_is_another_message(
    receiver: Receiver,
) -> None:
    raw = corpus.oru("SAME1")
    other = raw.replace("|LABSYS|", "|OTHERLAB|", 1)
    assert (await receiver.receive(raw.encode())).duplicate is False
    assert (await receiver.receive(other.encode())).duplicate is False
    assert (await counts(receiver, "DiagnosticReport"))["DiagnosticReport"] == 2


async def test_mapping_failure_is_ae_with_err_and_nothing_half_applied(receiver: Receiver) -> None:
    text = corpus.oru("BAD1").replace("|NM|787-2^MCV^LN||89.4|", "|NM|787-2^MCV^LN||eighty|")
    received = await receiver.receive(text.encode())
    assert received.outcome == "E"
    msa, err = segment(received.ack, "MSA"), segment(received.ack, "ERR")
    assert msa[1:3] == ["AE", "BAD1"]
    assert err[2] == "OBX^5^5^1"  # the fifth OBX, its value
    assert err[3] == "102^Data type error^HL70357" and err[4] == "E"
    assert "OBX-5" in err[8]
    assert all(n == 0 for n in (await counts(receiver, *ALL)).values())
    (letter,) = await receiver.store.dead_letters()
    assert letter.control_id == "BAD1" and "OBX-5" in letter.reason
    assert letter.raw == text.encode()


async def test_validation_failure_in_the_transaction_is_ae_and_rolled_back(
    receiver: Receiver,
) -> None:
    good = await receiver.receive(corpus.oru("GOOD0", order="G").encode())
    assert good.outcome == "A"
    before = await counts(receiver, *ALL)
    # Mapped, then refused by the repository's validation (a code may not start with a space).
    text = corpus.oru("BAD2", order="B").replace("|785-6^MCH^LN|", "| 785-6^MCH^LN|")
    received = await receiver.receive(text.encode())
    assert received.outcome == "E"
    assert segment(received.ack, "ERR")[3].startswith("207^")
    assert await counts(receiver, *ALL) == before
    assert [letter.control_id for letter in await receiver.store.dead_letters()] == ["BAD2"]


async def test_a_bad_date_is_ae_naming_the_field(receiver: Receiver) -> None:
    bad_birth = corpus.oru("BAD3").replace("|19800215|", "|19801345|")
    received = await receiver.receive(bad_birth.encode())
    assert received.outcome == "E" and segment(received.ack, "ERR")[2] == "PID^1^7^1"
    assert all(n == 0 for n in (await counts(receiver, *ALL)).values())


async def test_unsupported_type_is_ar(receiver: Receiver) -> None:
    text = corpus.msh("QRY^A19^QRY_A19", "Q1") + "\rQRD|20240101|R|I|Q1\r"
    received = await receiver.receive(text.encode())
    assert received.outcome == "R"
    assert segment(received.ack, "MSA")[1:3] == ["AR", "Q1"]
    assert segment(received.ack, "ERR")[3].startswith("200^")
    event = corpus.msh("ADT^A02^ADT_A02", "Q2") + "\r"
    assert segment((await receiver.receive(event.encode())).ack, "ERR")[3].startswith("201^")


async def test_no_msh_is_ar_without_msa_2(receiver: Receiver) -> None:
    received = await receiver.receive(b"\x00\x01garbage")
    assert received.outcome == "R"
    assert segment(received.ack, "MSA")[1:3] == ["AR", ""]
    assert len(await receiver.store.dead_letters()) == 1


async def test_a_body_that_fails_to_parse_still_answers_with_msa_2(receiver: Receiver) -> None:
    text = corpus.oru("TRUNC1")[:-300] + "\r\x00\x13"
    received = await receiver.receive(text.encode())
    assert received.outcome == "E"
    assert segment(received.ack, "MSA")[1:3] == ["AE", "TRUNC1"]


async def test_the_same_failure_again_is_one_dead_letter(receiver: Receiver) -> None:
    raw = corpus.oru("BADDATE").replace("20240301080000+0100", "20241301080000+0100").encode()
    for _ in range(3):
        assert (await receiver.receive(raw)).outcome == "E"
    (letter,) = await receiver.store.dead_letters()
    assert letter.attempts == 3


async def test_enhanced_mode_accept_acknowledgements(receiver: Receiver) -> None:
    def enhanced(control: str, accept: str, application: str) -> bytes:
        text = corpus.oru(control, order=control)
        header, rest = text.split("\r", 1)
        return (header + f"|||{accept}|{application}" + "\r" + rest).encode()

    def codes(acks: tuple[bytes, ...]) -> list[list[str]]:
        return [segment(ack, "MSA")[1:3] for ack in acks]

    both = await receiver.receive(enhanced("E1", "AL", "AL"))
    assert codes(both.acks) == [["CA", "E1"], ["AA", "E1"]]
    accept_only = await receiver.receive(enhanced("E2", "AL", "NE"))
    assert codes(accept_only.acks) == [["CA", "E2"]]
    none = await receiver.receive(enhanced("E3", "NE", "ER"))
    assert none.acks == () and none.outcome == "A"
    failing = enhanced("E4", "ER", "ER").replace(
        b"|NM|787-2^MCV^LN||89.4|", b"|NM|787-2^MCV^LN||x|"
    )
    failed = await receiver.receive(failing)
    assert codes(failed.acks) == [["CE", "E4"], ["AE", "E4"]]
    assert segment(failed.ack, "ERR")[2] == "OBX^5^5^1"
    assert (await counts(receiver, "DiagnosticReport"))["DiagnosticReport"] == 3


async def test_latin1_message_is_answered_in_latin1(receiver: Receiver) -> None:
    raw = corpus.oru("L1", charset="8859/1").encode("iso-8859-1")
    received = await receiver.receive(raw)
    assert received.outcome == "A", received.error
    assert segment(received.ack, "MSH")[17] == "8859/1"
    (patient,) = await resources(receiver, "Patient")
    assert patient["name"][0]["family"] == "Müller"


async def test_a_patient_identifier_matching_several_is_ae(receiver: Receiver) -> None:
    for _ in range(2):
        await receiver.repository.create(
            {
                "resourceType": "Patient",
                "identifier": [{"system": "urn:oid:1.2.3.4.5", "value": "MRN-TWICE"}],
            },
            "Patient",
        )
    received = await receiver.receive(corpus.oru("TWICE1", mrn="MRN-TWICE").encode())
    assert received.outcome == "E"
    assert "matches several" in segment(received.ack, "ERR")[8]
    assert (await counts(receiver, "Observation"))["Observation"] == 0


async def test_a_patient_without_assigning_authority_is_ae(receiver: Receiver) -> None:
    text = corpus.oru("NOAUTH1").replace("MRN1001^^^HOSP&1.2.3.4.5&ISO^MR~SS123^^^SSA^SS", "123")
    received = await receiver.receive(text.encode())
    assert received.outcome == "E"
    assert segment(received.ack, "ERR")[2:4] == ["PID^1^3^1", "101^Required field missing^HL70357"]


async def test_our_acks_are_valid_for_hl7apy_strict(receiver: Receiver) -> None:
    from hl7apy.parser import parse_message

    good = await receiver.receive(corpus.oru("APY1").encode())
    bad = await receiver.receive(corpus.oru("APY2").replace("|19800215|", "|1980x|").encode())
    for received in (good, bad):
        assert received.ack is not None
        ack = parse_message(received.ack.decode(), validation_level=1, find_groups=True)
        ack.validate()


async def test_a_resend_with_a_new_timestamp_is_a_repeat(receiver: Receiver) -> None:
    text = corpus.oru("RESEND1")
    assert (await receiver.receive(text.encode())).duplicate is False
    resent = text.replace("20240301101500+0100", "20240301111500+0100", 1)  # MSH-7 only
    again = await receiver.receive(resent.encode())
    assert (again.outcome, again.duplicate) == ("A", True)


async def test_a_reused_control_id_with_other_content_is_ae_not_dropped(receiver: Receiver) -> None:
    assert (await receiver.receive(corpus.oru("REUSED1", order="X1").encode())).outcome == "A"
    other = corpus.oru("REUSED1", order="X2", mrn="MRN-OTHER").encode()
    received = await receiver.receive(other)
    assert received.outcome == "E"
    assert segment(received.ack, "ERR")[2:4] == [
        "MSH^1^10^1",
        "205^Duplicate key identifier^HL70357",
    ]
    (letter,) = await receiver.store.dead_letters()
    assert letter.raw == other
    assert (await counts(receiver, "DiagnosticReport"))["DiagnosticReport"] == 1
