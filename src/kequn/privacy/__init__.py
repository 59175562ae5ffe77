"""Personal information protection (个人信息保护法): masking, consent, the audit trail."""
