"""Credentials: issued permits and talent cards as signed, QR-carried, publicly verifiable JWS."""
