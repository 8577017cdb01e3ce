"""The official letters an escalation issues (函告, 约谈, 挂牌督办, 通报): their content and their .docx."""
