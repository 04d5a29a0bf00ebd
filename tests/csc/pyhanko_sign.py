"""Signs a PDF through ca-enrol's CSC API v2 with pyHanko's CSC client (CSCSigner).

Driven by `tests/it/csc.rs`: the SCAL2 authorisation needs the OTP sent to the citizen's
phone, so this script's authorisation manager calls `credentials/sendOTP` for the hashes
pyHanko is about to sign, writes one line `OTP? <challenge id>` to stdout, reads the code
from stdin (the test reads it from the outbox) and calls `credentials/authorize` with
pyHanko's own request format. Everything else (credentials/info, signatures/signHash) is
pyHanko's client as shipped: no `userID`, CSC v1 field names `hash` and `hashAlgo`.

Usage: pyhanko_sign.py BASE_URL API_KEY CREDENTIAL_ID IN_PDF OUT_PDF
"""

import asyncio
import sys

import aiohttp
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)


class OtpAuthorizationManager(CSCAuthorizationManager):
    """SCAL2: an OTP bound to exactly the hashes about to be signed."""

    def __init__(self, session, session_info, credential_info):
        super().__init__(session_info, credential_info)
        self.session = session

    async def _post(self, endpoint, body):
        url = self.csc_session_info.endpoint_url(endpoint)
        async with self.session.post(
            url, headers=self.auth_headers, json=body
        ) as response:
            data = await response.json()
            if response.status >= 300:
                raise RuntimeError(f"{endpoint}: {response.status} {data}")
            return data

    async def authorize_signature(self, hash_b64s) -> CSCAuthorizationInfo:
        sent = await self._post(
            "credentials/sendOTP",
            {
                "credentialID": self.csc_session_info.credential_id,
                "hashes": hash_b64s,
                "numSignatures": len(hash_b64s),
            },
        )
        print(f"OTP? {sent['challenge_id']}", flush=True)
        code = sys.stdin.readline().strip()
        body = self.format_csc_auth_request(otp=code, hash_b64s=hash_b64s)
        return self.parse_csc_auth_response(
            await self._post("credentials/authorize", body)
        )


async def main(base_url, api_key, credential_id, in_pdf, out_pdf):
    session_info = CSCServiceSessionInfo(
        service_url=base_url,
        credential_id=credential_id,
        oauth_token=api_key,
        api_ver="v2",
    )
    async with aiohttp.ClientSession() as session:
        credential_info = await fetch_certs_in_csc_credential(session, session_info)
        assert credential_info.hash_pinning_required, "SCAL 2 expected"
        manager = OtpAuthorizationManager(session, session_info, credential_info)
        signer = CSCSigner(session, auth_manager=manager)
        meta = signers.PdfSignatureMetadata(
            field_name="Signature1",
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            reason="Ky so tu xa (CSC)",
        )
        with open(in_pdf, "rb") as f:
            writer = IncrementalPdfFileWriter(f)
            with open(out_pdf, "wb") as out:
                await signers.PdfSigner(meta, signer).async_sign_pdf(writer, output=out)
    print("SIGNED", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
